// Kafka as a second audit sink, fed from the local signed log (issue 7).
//
// A forwarder thread reads entries from the MerkleAuditLog starting at the
// offset persisted in `offsetFile`, produces them with librdkafka's idempotent
// producer (acks=all, no delivery timeout: retried until the cluster takes
// them) keyed by tenant, and persists the new offset only after every message
// of a batch is acknowledged. A Kafka outage therefore delays events but loses
// none; a restart may resend the unacknowledged tail (at least once), and the
// event_id of each message identifies such duplicates. Order is kept per
// partition key because the idempotent producer never reorders a partition.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "appliance/audit/audit_log.h"
#include "core/result.h"

namespace sealgate::appliance {

struct KafkaSinkOptions {
  std::string bootstrapServers;
  std::string topic = "sealgate-audit";
  std::string offsetFile;  // in the audit data dir
  std::size_t batch = 1000;
  std::map<std::string, std::string> extra;  // more librdkafka properties (tests)
};

class KafkaForwarder {
 public:
  static Result<std::unique_ptr<KafkaForwarder>> start(MerkleAuditLog& log, const KafkaSinkOptions& options);
  ~KafkaForwarder();
  KafkaForwarder(const KafkaForwarder&) = delete;
  KafkaForwarder& operator=(const KafkaForwarder&) = delete;

  // Entries acknowledged by Kafka (and persisted): the next one to send.
  std::uint64_t delivered() const { return delivered_.load(); }
  // False while a batch has been waiting for the cluster a long time.
  bool healthy() const { return !stalled_.load(); }

  // The partition key of an entry: its tenant, else "-" (admin-side events).
  static std::string partitionKey(const std::string& entry);

 private:
  KafkaForwarder() = default;
  void loop();
  Result<void> persistOffset(std::uint64_t offset);

  MerkleAuditLog* log_ = nullptr;
  KafkaSinkOptions options_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> stalled_{false};
  std::thread thread_;
};

}  // namespace sealgate::appliance
