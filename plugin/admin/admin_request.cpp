#include "admin/admin_request.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <optional>
#include <vector>

#include "core/domain_name.h"
#include "core/quoted_text.h"

namespace bulkq {
namespace {

// What follows a command word.
enum class Arguments : std::uint8_t {
  none,             // status, metrics, reload
  optional_top,     // queues [--top N]
  domain,           // domain D, pause D, resume D, dns D
  optional_domain,  // flush [D]
  domain_or_all,    // release D | release --all
  domain_page,      // messages D [--page N]
};

struct CommandRule {
  AdminCommand command;
  Arguments arguments;
  std::string_view usage;
};

constexpr std::array kCommandRules{
    CommandRule{AdminCommand::status, Arguments::none, "status"},
    CommandRule{AdminCommand::queues, Arguments::optional_top,
                "queues [--top N] [--sort size|age|rate]"},
    CommandRule{AdminCommand::domain, Arguments::domain, "domain DOMAIN"},
    CommandRule{AdminCommand::messages, Arguments::domain_page, "messages DOMAIN [--page N]"},
    CommandRule{AdminCommand::pause, Arguments::domain, "pause DOMAIN"},
    CommandRule{AdminCommand::resume, Arguments::domain, "resume DOMAIN"},
    CommandRule{AdminCommand::flush, Arguments::optional_domain, "flush [DOMAIN]"},
    CommandRule{AdminCommand::dns, Arguments::domain, "dns DOMAIN"},
    CommandRule{AdminCommand::release, Arguments::domain_or_all, "release DOMAIN | release --all"},
    CommandRule{AdminCommand::metrics, Arguments::none, "metrics"},
    CommandRule{AdminCommand::reload, Arguments::none, "reload"},
};

constexpr std::string_view kTopOption = "--top";
constexpr std::string_view kAllOption = "--all";
constexpr std::string_view kSortOption = "--sort";
constexpr std::string_view kPageOption = "--page";

bool is_separator(char c) {
  return c == ' ' || c == '\t';
}

bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

// A word as it appears in an error: quoted, anything but printable ASCII escaped, long words cut,
// so the message is safe in a log line or a reply whatever bytes the peer sent.
std::string in_quotes(std::string_view word) {
  return quoted_text(word, 64, NonAscii::escape);
}

AdminRequestResult failure(std::string error) {
  AdminRequestResult result;
  result.error = std::move(error);
  return result;
}

std::string usage_hint(const CommandRule& rule) {
  return " (usage: " + std::string(rule.usage) + ")";
}

std::string unknown_command_error(std::string_view word) {
  std::string expected;
  for (std::size_t i = 0; i < kAdminCommands.size(); ++i) {
    if (i > 0) expected += (i + 1 == kAdminCommands.size()) ? " or " : ", ";
    expected += to_string(kAdminCommands[i]);
  }
  return "unknown command " + in_quotes(word) + " (expected " + expected + ")";
}

// "1".."100000": decimal digits only, no sign, no spaces.
std::optional<std::uint32_t> parse_top(std::string_view word) {
  if (word.empty() || word.size() > 9) return std::nullopt;
  std::uint32_t value = 0;
  const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
  if (ec != std::errc() || end != word.data() + word.size()) return std::nullopt;
  if (value < 1 || value > kMaxQueuesTop) return std::nullopt;
  return value;
}

// Sets request.domain from `word`, or says why it cannot.
std::string take_domain(const CommandRule& rule, std::string_view word, AdminRequest& request) {
  const std::string prefix = std::string(to_string(rule.command)) + ": ";
  if (word.substr(0, 1) == "-") {
    return prefix + "unknown option " + in_quotes(word) + usage_hint(rule);
  }
  DomainNameResult domain = normalise_domain(word);
  if (!domain.ok()) return prefix + "invalid domain " + in_quotes(word) + ": " + domain.error;
  request.domain = std::move(domain.canonical);
  return {};
}

AdminRequestResult parse_arguments(const CommandRule& rule,
                                   std::span<const std::string_view> args) {
  AdminRequest request;
  request.command = rule.command;
  const std::string prefix = std::string(to_string(rule.command)) + ": ";
  std::size_t used = 0;
  switch (rule.arguments) {
    case Arguments::none:
      break;
    case Arguments::optional_top: {
      // --top N and --sort WORD, each at most once, in either order.
      bool sort_given = false;
      while (used < args.size()) {
        if (args[used] == kTopOption && request.top == 0) {
          if (args.size() < used + 2) {
            return failure(prefix + "--top needs a number" + usage_hint(rule));
          }
          const std::optional<std::uint32_t> top = parse_top(args[used + 1]);
          if (!top) {
            return failure(prefix + "--top " + in_quotes(args[used + 1]) +
                           " is not a number from 1 to " + std::to_string(kMaxQueuesTop));
          }
          request.top = *top;
          used += 2;
        } else if (args[used] == kSortOption && !sort_given) {
          if (args.size() < used + 2) {
            return failure(prefix + "--sort needs size, age or rate" + usage_hint(rule));
          }
          if (args[used + 1] == "size") {
            request.sort = QueueOrder::size;
          } else if (args[used + 1] == "age") {
            request.sort = QueueOrder::age;
          } else if (args[used + 1] == "rate") {
            request.sort = QueueOrder::rate;
          } else {
            return failure(prefix + "--sort " + in_quotes(args[used + 1]) +
                           " is not size, age or rate");
          }
          sort_given = true;
          used += 2;
        } else {
          break;
        }
      }
      break;
    }
    case Arguments::domain:
      if (args.empty()) return failure(prefix + "missing domain" + usage_hint(rule));
      if (std::string problem = take_domain(rule, args[0], request); !problem.empty()) {
        return failure(std::move(problem));
      }
      used = 1;
      break;
    case Arguments::optional_domain:
      if (!args.empty()) {
        if (std::string problem = take_domain(rule, args[0], request); !problem.empty()) {
          return failure(std::move(problem));
        }
        used = 1;
      }
      break;
    case Arguments::domain_page:
      if (args.empty()) return failure(prefix + "missing domain" + usage_hint(rule));
      if (std::string problem = take_domain(rule, args[0], request); !problem.empty()) {
        return failure(std::move(problem));
      }
      used = 1;
      if (args.size() > 1 && args[1] == kPageOption) {
        if (args.size() < 3) return failure(prefix + "--page needs a number" + usage_hint(rule));
        const std::optional<std::uint32_t> page = parse_top(args[2]);
        if (!page) {
          return failure(prefix + "--page " + in_quotes(args[2]) + " is not a number from 1 to " +
                         std::to_string(kMaxQueuesTop));
        }
        request.page = *page;
        used = 3;
      }
      break;
    case Arguments::domain_or_all:
      if (args.empty()) return failure(prefix + "missing domain or --all" + usage_hint(rule));
      if (args[0] == kAllOption) {
        request.all = true;
      } else if (std::string problem = take_domain(rule, args[0], request); !problem.empty()) {
        return failure(std::move(problem));
      }
      used = 1;
      break;
  }
  if (used < args.size()) {
    return failure(prefix + "unexpected argument " + in_quotes(args[used]) + usage_hint(rule));
  }
  AdminRequestResult result;
  result.request = std::move(request);
  return result;
}

}  // namespace

AdminRequestResult parse_admin_request_words(std::span<const std::string_view> words) {
  if (words.empty()) return failure("empty request");
  std::size_t length = 0;
  for (std::string_view word : words) {
    if (word.empty()) return failure("empty word in request");
    if (std::any_of(word.begin(), word.end(),
                    [](char c) { return is_separator(c) || is_control(c); })) {
      return failure("word " + in_quotes(word) + " contains a space or a control character");
    }
    length += word.size() + 1;
  }
  if (length - 1 > kMaxAdminRequestLength) {
    return failure("request longer than " + std::to_string(kMaxAdminRequestLength) + " bytes");
  }
  const std::optional<AdminCommand> command = parse_admin_command(words[0]);
  if (!command) return failure(unknown_command_error(words[0]));
  const auto rule = std::find_if(kCommandRules.begin(), kCommandRules.end(),
                                 [&](const CommandRule& r) { return r.command == *command; });
  return parse_arguments(*rule, words.subspan(1));
}

AdminRequestResult parse_admin_request(std::string_view line) {
  // A client typing into socat or nc may send "\r\n".
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kMaxAdminRequestLength) {
    return failure("request longer than " + std::to_string(kMaxAdminRequestLength) + " bytes");
  }
  if (line.find('\0') != std::string_view::npos) return failure("NUL byte in request");
  if (std::any_of(line.begin(), line.end(),
                  [](char c) { return is_control(c) && !is_separator(c); })) {
    return failure("control character in request");
  }
  // At most kMaxAdminRequestLength / 2 + 1 words fit in a line, so this is bounded too.
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_separator(line[i]))
      ++i;
    const std::size_t start = i;
    while (i < line.size() && !is_separator(line[i]))
      ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return parse_admin_request_words(words);
}

std::string to_request_line(const AdminRequest& request) {
  // append(), not " " + std::string(…): GCC 12 at -O3 reports a false -Wrestrict on the latter
  // (GCC PR 105651), and warnings are errors here.
  std::string line(to_string(request.command));
  switch (request.command) {
    case AdminCommand::queues:
      if (request.top > 0) {
        line.append(" ").append(kTopOption).append(" ").append(std::to_string(request.top));
      }
      if (request.sort == QueueOrder::age) line.append(" ").append(kSortOption).append(" age");
      if (request.sort == QueueOrder::rate) line.append(" ").append(kSortOption).append(" rate");
      break;
    case AdminCommand::messages:
      line.append(" ").append(request.domain);
      if (request.page > 0) {
        line.append(" ").append(kPageOption).append(" ").append(std::to_string(request.page));
      }
      break;
    case AdminCommand::domain:
    case AdminCommand::pause:
    case AdminCommand::resume:
    case AdminCommand::dns:
      line.append(" ").append(request.domain);
      break;
    case AdminCommand::flush:
      if (!request.domain.empty()) line.append(" ").append(request.domain);
      break;
    case AdminCommand::release:
      line.append(" ").append(request.all ? std::string_view(kAllOption) : request.domain);
      break;
    case AdminCommand::status:
    case AdminCommand::metrics:
    case AdminCommand::reload:
      break;
  }
  return line;
}

}  // namespace bulkq
