// parse_config: the [delivery] and [dns] tables — defaults, every key, every kind of error with
// the file, line and key it must name, and the rules between keys.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/config_parser.h"

using namespace bulkq;

namespace {

struct BadCase {
  const char* text;
  const char* error;  // the whole error text
};

struct BadPrefixCase {
  const char* text;
  const char* prefix;  // the error text's start (the rest comes from another module)
};

}  // namespace

TEST_CASE("config: [delivery] and [dns] defaults", "[config][delivery]") {
  const ConfigResult result = parse_config("", "bulkq.toml");
  REQUIRE(result.error == "");
  const DeliveryConfig& d = result.config.delivery;
  CHECK(d == DeliveryConfig{});
  CHECK(d.enabled);
  CHECK(d.mode == DeliveryMode::direct);
  CHECK(d.relay_host.empty());
  CHECK(d.relay_port == 25);
  CHECK(d.port == 25);
  CHECK(d.helo_name.empty());
  CHECK(d.max_connections == 32);
  CHECK(d.max_connections_per_domain == 8);
  CHECK(d.max_messages_per_connection == 1000);
  CHECK(d.connection_idle_time == 10);
  CHECK(d.connection_reuse_time == 300);
  CHECK(d.max_idle_connections == 256);
  CHECK(d.tls == TlsSetting::opportunistic);
  CHECK(d.tls_policy.empty());
  CHECK(d.retry_min == 300);
  CHECK(d.retry_max == 14400);
  CHECK(d.domain_backoff_min == 60);
  CHECK(d.domain_backoff_max == 3600);
  CHECK(d.max_queue_lifetime == 432000);
  CHECK(d.timeouts == DeliveryTimeouts{});
  CHECK(d.timeouts.connect == 30);
  CHECK(d.timeouts.greeting == 300);
  CHECK(d.timeouts.data_init == 120);
  CHECK(d.timeouts.data_block == 180);
  CHECK(d.timeouts.data_end == 600);
  CHECK(d.timeouts.rset == 20);
  CHECK(d.sendmail == "/usr/sbin/sendmail");
  CHECK(d.dsn_relay_host.empty());
  CHECK(d.dsn_relay_port == 25);
  CHECK(d.accounting_log.empty());

  const DnsConfig& n = result.config.dns;
  CHECK(n == DnsConfig{});
  CHECK(n.servers.empty());
  CHECK(n.timeout_ms == 2000);
  CHECK(n.tries == 2);
  CHECK(n.ipv6);
  CHECK(n.cache_directory == "/var/lib/bulkq/dns");
  CHECK(n.cache_map_size_mib == 64);
  CHECK(n.min_ttl == 60);
  CHECK(n.max_ttl == 86400);
  CHECK(n.negative_min_ttl == 30);
  CHECK(n.negative_max_ttl == 3600);
  CHECK(n.failure_ttl == 30);
  CHECK(n.serve_stale == 3600);
  CHECK(n.refresh_ahead == 300);
  CHECK(n.prefetch_queues == 16);
}

TEST_CASE("config: every [delivery] key takes a good value", "[config][delivery]") {
  const ConfigResult result = parse_config(R"([delivery]
enabled = false
mode = "relay"
relay = "Smart.Example.COM:2525"
port = 2526
helo_name = "Bulk.Example.ORG"
max_connections = 10000
max_connections_per_domain = 1000
max_messages_per_connection = 1
connection_idle_time = 0
connection_reuse_time = 86400
max_idle_connections = 0
tls = "required"
retry_min = 1
retry_max = 31536000
domain_backoff_min = 10
domain_backoff_max = 10
max_queue_lifetime = 86400
sendmail = "/opt/postfix/sbin/sendmail"
dsn_relay = "[::1]:10026"
accounting_log = "/var/log/bulkq/accounting.jsonl"

[delivery.tls_policy]
"Example.COM" = "off"
"secure.test" = "required"
"plain.test" = "opportunistic"

[delivery.timeouts]
connect = 1
greeting = 2
ehlo = 3
starttls = 4
mail = 5
rcpt = 6
data_init = 7
data_block = 8
data_end = 9
rset = 10
quit = 3600
)",
                                           "bulkq.toml");
  REQUIRE(result.error == "");
  const DeliveryConfig& d = result.config.delivery;
  CHECK_FALSE(d.enabled);
  CHECK(d.mode == DeliveryMode::relay);
  CHECK(d.relay_host == "smart.example.com");
  CHECK(d.relay_port == 2525);
  CHECK(d.port == 2526);
  CHECK(d.helo_name == "bulk.example.org");
  CHECK(d.max_connections == 10000);
  CHECK(d.max_connections_per_domain == 1000);
  CHECK(d.max_messages_per_connection == 1);
  CHECK(d.connection_idle_time == 0);
  CHECK(d.connection_reuse_time == 86400);
  CHECK(d.max_idle_connections == 0);
  CHECK(d.tls == TlsSetting::required);
  CHECK(d.retry_min == 1);
  CHECK(d.retry_max == 31536000);
  CHECK(d.domain_backoff_min == 10);
  CHECK(d.domain_backoff_max == 10);
  CHECK(d.max_queue_lifetime == 86400);
  CHECK(d.sendmail == "/opt/postfix/sbin/sendmail");
  CHECK(d.dsn_relay_host == "::1");
  CHECK(d.dsn_relay_port == 10026);
  CHECK(d.accounting_log == "/var/log/bulkq/accounting.jsonl");
  REQUIRE(d.tls_policy.size() == 3);
  bool example = false;
  bool secure = false;
  bool plain = false;
  for (const DomainTls& p : d.tls_policy) {
    if (p.domain == "example.com") example = p.tls == TlsSetting::off;
    if (p.domain == "secure.test") secure = p.tls == TlsSetting::required;
    if (p.domain == "plain.test") plain = p.tls == TlsSetting::opportunistic;
  }
  CHECK(example);
  CHECK(secure);
  CHECK(plain);
  const DeliveryTimeouts& t = d.timeouts;
  CHECK(t.connect == 1);
  CHECK(t.greeting == 2);
  CHECK(t.ehlo == 3);
  CHECK(t.starttls == 4);
  CHECK(t.mail == 5);
  CHECK(t.rcpt == 6);
  CHECK(t.data_init == 7);
  CHECK(t.data_block == 8);
  CHECK(t.data_end == 9);
  CHECK(t.rset == 10);
  CHECK(t.quit == 3600);
}

TEST_CASE("config: [delivery] relay forms", "[config][delivery]") {
  struct Case {
    const char* relay;
    const char* host;
    std::uint16_t port;
  };
  const Case cases[] = {
      {"mx.example.com", "mx.example.com", 25},
      {"mx.example.com:587", "mx.example.com", 587},
      {"127.0.0.1", "127.0.0.1", 25},
      {"127.0.0.1:10025", "127.0.0.1", 10025},
      {"[127.0.0.1]:10025", "127.0.0.1", 10025},
      {"[::1]:10025", "::1", 10025},
      {"::1", "::1", 25},
  };
  for (const Case& c : cases) {
    CAPTURE(c.relay);
    const ConfigResult result = parse_config(
        std::string("[delivery]\nmode = \"relay\"\nrelay = \"") + c.relay + "\"\n", "bulkq.toml");
    REQUIRE(result.error == "");
    CHECK(result.config.delivery.relay_host == c.host);
    CHECK(result.config.delivery.relay_port == c.port);
  }
  // An empty relay in direct mode is fine.
  const ConfigResult empty = parse_config("[delivery]\nrelay = \"\"\n", "bulkq.toml");
  CHECK(empty.error == "");
  CHECK(empty.config.delivery.relay_host.empty());
}

TEST_CASE("config: every [dns] key takes a good value", "[config][dns]") {
  const ConfigResult result = parse_config(R"([dns]
servers = ["127.0.0.1", "127.0.0.2:5353", "::1", "[::1]:5353"]
timeout = 10
tries = 10
ipv6 = false
cache_directory = "/tmp/bulkq-dns"
cache_map_size = 1048576
min_ttl = 0
max_ttl = 1
negative_min_ttl = 0
negative_max_ttl = 1
failure_ttl = 5
serve_stale = 0
refresh_ahead = 1
prefetch_queues = 0
)",
                                           "bulkq.toml");
  REQUIRE(result.error == "");
  const DnsConfig& n = result.config.dns;
  CHECK(n.servers ==
        std::vector<std::string>{"127.0.0.1:53", "127.0.0.2:5353", "[::1]:53", "[::1]:5353"});
  CHECK(n.timeout_ms == 10);
  CHECK(n.tries == 10);
  CHECK_FALSE(n.ipv6);
  CHECK(n.cache_directory == "/tmp/bulkq-dns");
  CHECK(n.cache_map_size_mib == 1048576);
  CHECK(n.min_ttl == 0);
  CHECK(n.max_ttl == 1);
  CHECK(n.negative_min_ttl == 0);
  CHECK(n.negative_max_ttl == 1);
  CHECK(n.failure_ttl == 5);
  CHECK(n.serve_stale == 0);
  CHECK(n.refresh_ahead == 1);
  CHECK(n.prefetch_queues == 0);

  const ConfigResult upper =
      parse_config("[dns]\ntimeout = 60000\nprefetch_queues = 1000\n", "bulkq.toml");
  REQUIRE(upper.error == "");
  CHECK(upper.config.dns.timeout_ms == 60000);
  CHECK(upper.config.dns.prefetch_queues == 1000);
}

TEST_CASE("config: bad [delivery] and [dns] values name file, line and key",
          "[config][delivery][dns]") {
  const BadCase cases[] = {
      {"[delivery]\nenabled = \"yes\"\n",
       "bulkq.toml:2: delivery.enabled: expected a boolean, got a string"},
      {"[delivery]\nmode = \"smart\"\n",
       "bulkq.toml:2: delivery.mode: unknown mode \"smart\" (expected direct or relay)"},
      {"[delivery]\nmode = 1\n", "bulkq.toml:2: delivery.mode: expected a string, got an integer"},
      {"[delivery]\nrelay = \"mx.example.com:0\"\n",
       "bulkq.toml:2: delivery.relay: \"mx.example.com:0\": port \"0\" is not a number from 1 to "
       "65535"},
      {"[delivery]\nrelay = \"mx.example.com:\"\n",
       "bulkq.toml:2: delivery.relay: \"mx.example.com:\": empty port after ':'"},
      {"[delivery]\nrelay = \"[mx.example.com]:25\"\n",
       "bulkq.toml:2: delivery.relay: \"[mx.example.com]:25\": \"mx.example.com\" in brackets is "
       "not an IP address"},
      {"[delivery]\nrelay = 25\n",
       "bulkq.toml:2: delivery.relay: expected a string, got an integer"},
      {"[delivery]\nport = 0\n",
       "bulkq.toml:2: delivery.port: 0 is out of range (expected 1 to 65535)"},
      {"[delivery]\nport = 65536\n",
       "bulkq.toml:2: delivery.port: 65536 is out of range (expected 1 to 65535)"},
      {"[delivery]\nmax_connections = 0\n",
       "bulkq.toml:2: delivery.max_connections: 0 is out of range (expected 1 to 10000)"},
      {"[delivery]\nmax_connections = 10001\n",
       "bulkq.toml:2: delivery.max_connections: 10001 is out of range (expected 1 to 10000)"},
      {"[delivery]\nmax_connections_per_domain = 0\n",
       "bulkq.toml:2: delivery.max_connections_per_domain: 0 is out of range (expected 1 to "
       "1000)"},
      {"[delivery]\nmax_messages_per_connection = 100001\n",
       "bulkq.toml:2: delivery.max_messages_per_connection: 100001 is out of range (expected 1 to "
       "100000)"},
      {"[delivery]\nconnection_idle_time = 301\n",
       "bulkq.toml:2: delivery.connection_idle_time: 301 is out of range (expected 0 to 300)"},
      {"[delivery]\nmax_idle_connections = 10001\n",
       "bulkq.toml:2: delivery.max_idle_connections: 10001 is out of range (expected 0 to 10000)"},
      {"[delivery]\nconnection_reuse_time = 0\n",
       "bulkq.toml:2: delivery.connection_reuse_time: 0 is out of range (expected 1 to 86400)"},
      {"[delivery]\ntls = \"maybe\"\n",
       "bulkq.toml:2: delivery.tls: unknown TLS policy \"maybe\" (expected opportunistic, "
       "required or off)"},
      {"[delivery]\nretry_min = 0\n",
       "bulkq.toml:2: delivery.retry_min: 0 is out of range (expected 1 to 31536000)"},
      {"[delivery]\nretry_max = 31536001\n",
       "bulkq.toml:2: delivery.retry_max: 31536001 is out of range (expected 1 to 31536000)"},
      {"[delivery]\ndomain_backoff_min = -1\n",
       "bulkq.toml:2: delivery.domain_backoff_min: -1 is out of range (expected 1 to 31536000)"},
      {"[delivery]\ndomain_backoff_max = 0\n",
       "bulkq.toml:2: delivery.domain_backoff_max: 0 is out of range (expected 1 to 31536000)"},
      {"[delivery]\nmax_queue_lifetime = 0\n",
       "bulkq.toml:2: delivery.max_queue_lifetime: 0 is out of range (expected 1 to 31536000)"},
      {"[delivery]\nmax_queue_lifetime = \"5d\"\n",
       "bulkq.toml:2: delivery.max_queue_lifetime: expected an integer, got a string"},
      {"[delivery]\nsendmail = \"sendmail\"\n",
       "bulkq.toml:2: delivery.sendmail: \"sendmail\" is not an absolute path"},
      {"[delivery]\nsendmail = \"\"\n", "bulkq.toml:2: delivery.sendmail: empty path"},
      {"[delivery]\ndsn_relay = \"localhost:10026\"\n",
       "bulkq.toml:2: delivery.dsn_relay: \"localhost:10026\": \"localhost\" is not an IP "
       "address"},
      {"[delivery]\naccounting_log = \"log/accounting\"\n",
       "bulkq.toml:2: delivery.accounting_log: \"log/accounting\" is not an absolute path"},
      {"[delivery]\ntls_policy = \"off\"\n",
       "bulkq.toml:2: delivery.tls_policy: expected a table of domain = policy, got a string"},
      {"[delivery]\ntimeouts = 30\n",
       "bulkq.toml:2: delivery.timeouts: expected a table of phase = seconds, got an integer"},
      {"[delivery.tls_policy]\n\"example.com\" = \"sometimes\"\n",
       "bulkq.toml:2: delivery.tls_policy.\"example.com\": unknown TLS policy \"sometimes\" "
       "(expected opportunistic, required or off)"},
      {"[delivery.tls_policy]\n\"example.com\" = 1\n",
       "bulkq.toml:2: delivery.tls_policy.\"example.com\": expected a string, got an integer"},
      {"[delivery.timeouts]\nconnect = 0\n",
       "bulkq.toml:2: delivery.timeouts.connect: 0 is out of range (expected 1 to 3600)"},
      {"[delivery.timeouts]\ndata_end = 3601\n",
       "bulkq.toml:2: delivery.timeouts.data_end: 3601 is out of range (expected 1 to 3600)"},
      {"[delivery.timeouts]\nhello = 10\n",
       "bulkq.toml:2: delivery.timeouts.hello: unknown key (expected connect, greeting, ehlo, "
       "starttls, mail, rcpt, data_init, data_block, data_end, rset or quit)"},
      {"[dns]\nservers = \"127.0.0.1\"\n",
       "bulkq.toml:2: dns.servers: expected an array of strings, got a string"},
      {"[dns]\nservers = [\"ns.example.com\"]\n",
       "bulkq.toml:2: dns.servers: \"ns.example.com\": \"ns.example.com\" is not an IP address"},
      {"[dns]\nservers = [\"127.0.0.1:99999\"]\n",
       "bulkq.toml:2: dns.servers: \"127.0.0.1:99999\": port \"99999\" is not a number from 1 to "
       "65535"},
      {"[dns]\ntimeout = 9\n",
       "bulkq.toml:2: dns.timeout: 9 is out of range (expected 10 to 60000)"},
      {"[dns]\ntries = 11\n", "bulkq.toml:2: dns.tries: 11 is out of range (expected 1 to 10)"},
      {"[dns]\ntries = 0\n", "bulkq.toml:2: dns.tries: 0 is out of range (expected 1 to 10)"},
      {"[dns]\nipv6 = 1\n", "bulkq.toml:2: dns.ipv6: expected a boolean, got an integer"},
      {"[dns]\ncache_directory = \"dns\"\n",
       "bulkq.toml:2: dns.cache_directory: \"dns\" is not an absolute path"},
      {"[dns]\ncache_map_size = 0\n",
       "bulkq.toml:2: dns.cache_map_size: 0 is out of range (expected 1 to 1048576)"},
      {"[dns]\nmin_ttl = -1\n",
       "bulkq.toml:2: dns.min_ttl: -1 is out of range (expected 0 to 31536000)"},
      {"[dns]\nmax_ttl = 0\n",
       "bulkq.toml:2: dns.max_ttl: 0 is out of range (expected 1 to 31536000)"},
      {"[dns]\nnegative_min_ttl = 31536001\n",
       "bulkq.toml:2: dns.negative_min_ttl: 31536001 is out of range (expected 0 to 31536000)"},
      {"[dns]\nnegative_max_ttl = 0\n",
       "bulkq.toml:2: dns.negative_max_ttl: 0 is out of range (expected 1 to 31536000)"},
      {"[dns]\nfailure_ttl = 0\n",
       "bulkq.toml:2: dns.failure_ttl: 0 is out of range (expected 1 to 31536000)"},
      {"[dns]\nserve_stale = -5\n",
       "bulkq.toml:2: dns.serve_stale: -5 is out of range (expected 0 to 31536000)"},
      {"[dns]\nrefresh_ahead = 0\n",
       "bulkq.toml:2: dns.refresh_ahead: 0 is out of range (expected 1 to 31536000)"},
      {"[dns]\nprefetch_queues = 1001\n",
       "bulkq.toml:2: dns.prefetch_queues: 1001 is out of range (expected 0 to 1000)"},
      // The line is the bad value's, not the table's.
      {"[delivery]\nport = 25\n\nmax_connections = 0\n",
       "bulkq.toml:4: delivery.max_connections: 0 is out of range (expected 1 to 10000)"},
  };
  for (const BadCase& c : cases) {
    CAPTURE(c.text);
    const ConfigResult result = parse_config(c.text, "bulkq.toml");
    CHECK_FALSE(result.ok());
    CHECK(result.error == c.error);
  }
}

TEST_CASE("config: bad host and domain names in [delivery] name file, line and key",
          "[config][delivery]") {
  const BadPrefixCase cases[] = {
      {"[delivery]\nhelo_name = \"bad name!\"\n",
       "bulkq.toml:2: delivery.helo_name: \"bad name!\" is not a host name: "},
      {"[delivery]\nrelay = \"bad host!:25\"\n",
       "bulkq.toml:2: delivery.relay: \"bad host!:25\": \"bad host!\" is not a host name: "},
      {"[delivery.tls_policy]\n\"bad..domain\" = \"off\"\n",
       "bulkq.toml:2: delivery.tls_policy.\"bad..domain\": not a domain: "},
      {"[delivery.tls_policy]\n\"\" = \"off\"\n",
       "bulkq.toml:2: delivery.tls_policy.\"\": not a domain: "},
  };
  for (const BadPrefixCase& c : cases) {
    CAPTURE(c.text);
    const ConfigResult result = parse_config(c.text, "bulkq.toml");
    REQUIRE_FALSE(result.ok());
    CHECK(result.error.rfind(c.prefix, 0) == 0);
    CHECK(result.error.find('\n') == std::string::npos);
  }
}

TEST_CASE("config: unknown keys in [delivery] and [dns]", "[config][delivery][dns]") {
  ConfigResult result = parse_config("[delivery]\nrelayhost = \"x\"\n", "bulkq.toml");
  CHECK(result.error.rfind("bulkq.toml:2: delivery.relayhost: unknown key (expected enabled, "
                           "mode, relay, ",
                           0) == 0);
  result = parse_config("[dns]\nserver = []\n", "bulkq.toml");
  CHECK(result.error.rfind("bulkq.toml:2: dns.server: unknown key (expected servers, ", 0) == 0);
}

TEST_CASE("config: the rules between [delivery] and [dns] keys", "[config][delivery][dns]") {
  const BadCase cases[] = {
      {"[delivery]\nmode = \"relay\"\n",
       "bulkq.toml: delivery.relay: must be set when delivery.mode is \"relay\""},
      {"[delivery]\nmode = \"relay\"\nrelay = \"\"\n",
       "bulkq.toml: delivery.relay: must be set when delivery.mode is \"relay\""},
      {"[delivery]\nretry_min = 600\nretry_max = 599\n",
       "bulkq.toml: delivery.retry_max: smaller than delivery.retry_min"},
      {"[delivery]\nretry_min = 20000\n",
       "bulkq.toml: delivery.retry_max: smaller than delivery.retry_min"},
      {"[delivery]\ndomain_backoff_max = 59\n",
       "bulkq.toml: delivery.domain_backoff_max: smaller than delivery.domain_backoff_min"},
      {"[dns]\nmin_ttl = 100\nmax_ttl = 99\n", "bulkq.toml: dns.max_ttl: smaller than dns.min_ttl"},
      {"[dns]\nnegative_min_ttl = 3601\n",
       "bulkq.toml: dns.negative_max_ttl: smaller than dns.negative_min_ttl"},
  };
  for (const BadCase& c : cases) {
    CAPTURE(c.text);
    const ConfigResult result = parse_config(c.text, "bulkq.toml");
    CHECK(result.error == c.error);
  }
  // Equal bounds are fine; a relay in direct mode is kept but unused.
  const ConfigResult ok = parse_config(
      "[delivery]\nretry_min = 600\nretry_max = 600\nrelay = \"mx.example.com\"\n[dns]\nmin_ttl = "
      "5\nmax_ttl = 5\n",
      "bulkq.toml");
  CHECK(ok.error == "");
  CHECK(ok.config.delivery.mode == DeliveryMode::direct);
  CHECK(ok.config.delivery.relay_host == "mx.example.com");
}

TEST_CASE("config: several [delivery] errors are all reported, in line order",
          "[config][delivery]") {
  const ConfigResult result =
      parse_config("[delivery]\nport = 0\ntls = \"x\"\n[delivery.timeouts]\nquit = 0\nbogus = 1\n",
                   "bulkq.toml");
  CHECK(result.error ==
        "bulkq.toml:2: delivery.port: 0 is out of range (expected 1 to 65535)\n"
        "bulkq.toml:3: delivery.tls: unknown TLS policy \"x\" (expected opportunistic, required or "
        "off)\n"
        "bulkq.toml:5: delivery.timeouts.quit: 0 is out of range (expected 1 to 3600)\n"
        "bulkq.toml:6: delivery.timeouts.bogus: unknown key (expected connect, greeting, ehlo, "
        "starttls, mail, rcpt, data_init, data_block, data_end, rset or quit)");
}

// --- [shaping] -----------------------------------------------------------------------------------

TEST_CASE("config: [shaping] defaults and every key", "[config][shaping]") {
  const ConfigResult empty = parse_config("", "bulkq.toml");
  REQUIRE(empty.error == "");
  const ShapingConfig& d = empty.config.shaping;
  CHECK(d == ShapingConfig{});
  CHECK(d.adaptive);
  CHECK(d.mx_rollup);
  CHECK(d.initial_connections == 2);
  CHECK(d.max_rate == 0);
  CHECK(d.initial_rate == 10);
  CHECK(d.min_rate == Approx(0.1));
  CHECK(d.default_rules);
  CHECK(d.rules.empty());
  CHECK(d.domains.empty());

  const ConfigResult result = parse_config(R"(
[shaping]
adaptive = false
mx_rollup = false
initial_connections = 3
max_rate = 250
initial_rate = 20.5
min_rate = 0.5
default_rules = false

[[shaping.rules]]
pattern = "^421 .*closing"
regex = true
action = "suspend"
suspend = 600

[[shaping.rules]]
pattern = "slow down"
action = "scale_rate"
rate_factor = 0.75

[[shaping.rules]]
pattern = "account disabled"
action = "bounce"

[shaping.domain."Example.COM"]
max_connections = 4
max_messages_per_connection = 50
max_rate = 2.5
tls = "required"
adaptive = true
retry_min = 60
retry_max = 600
domain_backoff_min = 30
domain_backoff_max = 90

[shaping.domain."*.hoster.test"]
max_rate = 0
)",
                                           "bulkq.toml");
  REQUIRE(result.error == "");
  const ShapingConfig& s = result.config.shaping;
  CHECK_FALSE(s.adaptive);
  CHECK_FALSE(s.mx_rollup);
  CHECK(s.initial_connections == 3);
  CHECK(s.max_rate == 250);
  CHECK(s.initial_rate == Approx(20.5));
  CHECK(s.min_rate == Approx(0.5));
  CHECK_FALSE(s.default_rules);
  REQUIRE(s.rules.size() == 3);
  CHECK(s.rules[0] ==
        ShapingRuleSetting{"^421 .*closing", true, ShapingRuleAction::suspend, 600, 0});
  CHECK(s.rules[1] ==
        ShapingRuleSetting{"slow down", false, ShapingRuleAction::scale_rate, 0, 0.75});
  CHECK(s.rules[2].action == ShapingRuleAction::bounce);
  REQUIRE(s.domains.size() == 2);
  CHECK(s.domains[0].pattern == "*.hoster.test");  // sorted by pattern
  CHECK(s.domains[0].max_rate == 0.0);
  CHECK_FALSE(s.domains[0].max_connections);
  const DestinationSetting& e = s.domains[1];
  CHECK(e.pattern == "example.com");
  CHECK(e.max_connections == 4U);
  CHECK(e.max_messages_per_connection == 50U);
  CHECK(e.max_rate == 2.5);
  CHECK(e.tls == TlsSetting::required);
  CHECK(e.adaptive == true);
  CHECK(e.retry_min == 60U);
  CHECK(e.retry_max == 600U);
  CHECK(e.domain_backoff_min == 30U);
  CHECK(e.domain_backoff_max == 90U);
}

TEST_CASE("config: bad [shaping] values name file, line and key", "[config][shaping]") {
  const BadCase cases[] = {
      {"[shaping]\nadaptive = 1\n",
       "bulkq.toml:2: shaping.adaptive: expected a boolean, got an integer"},
      {"[shaping]\nmax_rate = -1\n",
       "bulkq.toml:2: shaping.max_rate: -1 is out of range (expected 0 to 1e+06)"},
      {"[shaping]\nmax_rate = \"fast\"\n",
       "bulkq.toml:2: shaping.max_rate: expected a number, got a string"},
      {"[shaping]\nmin_rate = 0\n",
       "bulkq.toml:2: shaping.min_rate: 0 is out of range (expected 0.001 to 1e+06)"},
      {"[shaping]\nmin_rate = nan\n",
       "bulkq.toml:2: shaping.min_rate: nan is out of range (expected 0.001 to 1e+06)"},
      {"[shaping]\ninitial_connections = 0\n",
       "bulkq.toml:2: shaping.initial_connections: 0 is out of range (expected 1 to 1000)"},
      {"[shaping]\nspeed = 3\n",
       "bulkq.toml:2: shaping.speed: unknown key (expected adaptive, mx_rollup, "
       "initial_connections, max_rate, initial_rate, min_rate, default_rules, rules or domain)"},
      {"[[shaping.rules]]\npattern = \"x\"\naction = \"drop\"\n",
       "bulkq.toml:3: shaping.rules[1].action: unknown action \"drop\" (expected suspend, "
       "scale_rate or bounce)"},
      {"[[shaping.rules]]\npattern = \"x\"\n",
       "bulkq.toml:1: shaping.rules[1]: a rule needs a pattern and an action"},
      {"[[shaping.rules]]\npattern = \"x\"\naction = \"suspend\"\n",
       "bulkq.toml:1: shaping.rules[1]: action \"suspend\" needs suspend = SECONDS"},
      {"[[shaping.rules]]\npattern = \"x\"\naction = \"scale_rate\"\nrate_factor = 1.5\n",
       "bulkq.toml:4: shaping.rules[1].rate_factor: 1.5 is out of range (expected 0.001 to 0.999)"},
      {"[[shaping.rules]]\npattern = \"x\"\naction = \"bounce\"\ncolour = 1\n",
       "bulkq.toml:4: shaping.rules[1].colour: unknown key (expected pattern, regex, action, "
       "suspend or rate_factor)"},
      {"[shaping]\nrules = 3\n",
       "bulkq.toml:2: shaping.rules: expected an array of tables ([[shaping.rules]]), got an "
       "integer"},
      {"[shaping.domain.\"bad..name\"]\nmax_rate = 1\n",
       "bulkq.toml:1: shaping.domain.\"bad..name\": not a domain or *.domain pattern: empty label "
       "in domain"},
      {"[shaping.domain.\"x.test\"]\nmax_connections = 0\n",
       "bulkq.toml:2: shaping.domain.\"x.test\".max_connections: 0 is out of range (expected 1 to "
       "1000)"},
      {"[shaping.domain.\"x.test\"]\ntls = \"always\"\n",
       "bulkq.toml:2: shaping.domain.\"x.test\".tls: unknown TLS policy \"always\" (expected "
       "opportunistic, required or off)"},
      {"[shaping.domain.\"x.test\"]\nspeed = 1\n",
       "bulkq.toml:2: shaping.domain.\"x.test\".speed: unknown key (expected max_connections, "
       "max_messages_per_connection, max_rate, tls, adaptive, retry_min, retry_max, "
       "domain_backoff_min or domain_backoff_max)"},
      // Rules between keys.
      {"[shaping]\nmin_rate = 20\n",
       "bulkq.toml: shaping.min_rate: larger than shaping.initial_rate"},
      {"[shaping]\nmax_rate = 0.05\n",
       "bulkq.toml: shaping.min_rate: larger than shaping.max_rate"},
      {"[shaping.domain.\"x.test\"]\nretry_min = 100000\n",
       "bulkq.toml: shaping.domain.\"x.test\".retry_max: smaller than retry_min"},
      {"[shaping.domain.\"x.test\"]\ndomain_backoff_min = 7200\n",
       "bulkq.toml: shaping.domain.\"x.test\".domain_backoff_max: smaller than domain_backoff_min"},
      {"[[shaping.rules]]\npattern = \"(\"\nregex = true\naction = \"bounce\"\n",
       "bulkq.toml: shaping.rules: "},
  };
  for (const BadCase& c : cases) {
    CAPTURE(c.text);
    const ConfigResult result = parse_config(c.text, "bulkq.toml");
    if (std::string(c.error).ends_with(": ")) {
      CHECK(result.error.starts_with(c.error));  // the regex library's own words follow
    } else {
      CHECK(result.error == c.error);
    }
  }
}
