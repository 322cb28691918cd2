// IntakeMessage: one new bulk message as it crosses from a producer to the scheduler thread.
#pragma once

#include "core/message_record.h"
#include "core/recipient_routing.h"

namespace bulkq {

struct IntakeMessage {
  MessageRecord record;
  RecipientRouting routing;  // recipient r of record goes to routing.domain(routing.domain_of(r))
};

}  // namespace bulkq
