#include "dns/resolver.h"

namespace bulkq {

const char* to_string(QueryType type) {
  switch (type) {
    case QueryType::mx:
      return "MX";
    case QueryType::a:
      return "A";
    case QueryType::aaaa:
      return "AAAA";
  }
  return "?";
}

}  // namespace bulkq
