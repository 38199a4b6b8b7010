#include "appliance/audit/audit_kafka.h"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "appliance/telemetry/logging.h"
#include "core/file_io.h"
#include "core/json_parse.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

struct Delivery {
  std::atomic<std::size_t> ok{0};
  std::atomic<std::size_t> failed{0};
  std::size_t queued = 0;
};

void onDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* d = static_cast<Delivery*>(m->_private);
  if (!d) return;
  if (m->err) {
    d->failed.fetch_add(1);
  } else {
    d->ok.fetch_add(1);
  }
}

// The entry's event_id, or "" (sent as the message's event_id header).
std::string eventIdOf(const std::string& entry) {
  std::string eventId;
  if (json e = parseInternalJson(entry); e.is_object() && e.contains("event_id") && e["event_id"].is_string()) {
    eventId = e["event_id"];
  }
  return eventId;
}

// Queues one entry for `delivery`, polling while librdkafka's queue is full. Any
// other failure, or a stop while the queue is full, is logged and the entry left
// unqueued.
void produceEntry(rd_kafka_t* rk, const std::string& topic, const std::string& key, const std::string& entry,
                  const std::string& eventId, Delivery& delivery, const std::atomic<bool>& stop) {
  for (;;) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(entry.data()), entry.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("event_id", eventId.data(), static_cast<ssize_t>(eventId.size())),
        RD_KAFKA_V_OPAQUE(&delivery), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || stop) {
      logEvent(LogLevel::Error, "audit_kafka_produce_failed", {{"error", rd_kafka_err2str(e)}});
      return;
    }
    rd_kafka_poll(rk, 100);
  }
}

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};

}  // namespace

struct KafkaForwarder::Impl {
  // Delivery reports of abandoned batches may still arrive: each batch's
  // counters live until the producer (declared after, destroyed first) is gone.
  std::deque<std::unique_ptr<Delivery>> deliveries;
  std::unique_ptr<rd_kafka_t, KafkaDeleter> producer;
};

std::string KafkaForwarder::partitionKey(const std::string& entry) {
  json e = parseInternalJson(entry);
  if (e.is_object() && e.contains("tenant") && e["tenant"].is_string() && !e["tenant"].get<std::string>().empty()) {
    return e["tenant"];
  }
  return "-";
}

Result<std::unique_ptr<KafkaForwarder>> KafkaForwarder::start(MerkleAuditLog& log, const KafkaSinkOptions& options) {
  std::unique_ptr<KafkaForwarder> f(new KafkaForwarder());
  f->log_ = &log;
  f->options_ = options;
  f->impl_ = std::make_unique<Impl>();
  if (options.offsetFile.empty()) return makeError(ErrorCode::ConfigInvalid, "the Kafka sink needs an offset file");
  if (std::ifstream in(options.offsetFile); in) {
    std::uint64_t v = 0;
    if (!(in >> v))
      return makeError(ErrorCode::AuditLogCorrupt, "the Kafka offset file is unreadable: " + options.offsetFile);
    if (v > log.size())
      return makeError(ErrorCode::AuditLogCorrupt, "the Kafka offset is past the end of the audit log");
    f->delivered_ = v;
  }
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  std::map<std::string, std::string> props = {{"bootstrap.servers", options.bootstrapServers},
                                              {"enable.idempotence", "true"},
                                              {"acks", "all"},
                                              {"message.timeout.ms", "0"},  // never give a message up
                                              {"linger.ms", "5"}};
  for (const auto& [k, v] : options.extra) props[k] = v;
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return makeError(ErrorCode::ConfigInvalid, "audit.kafka: " + k + ": " + err);
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, onDelivery);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return makeError(ErrorCode::KafkaUnavailable, std::string("cannot create the Kafka producer: ") + err);
  }
  f->impl_->producer.reset(rk);
  f->thread_ = std::thread([p = f.get()] { p->loop(); });
  return f;
}

KafkaForwarder::~KafkaForwarder() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (impl_ && impl_->producer) rd_kafka_flush(impl_->producer.get(), 1000);
}

Result<void> KafkaForwarder::persistOffset(std::uint64_t offset) {
  return writeFileAtomically(options_.offsetFile, std::to_string(offset) + "\n", 0600, ErrorCode::AuditUnavailable);
}

void KafkaForwarder::loop() {
  rd_kafka_t* rk = impl_->producer.get();
  while (!stop_) {
    const std::uint64_t from = delivered_.load();
    const std::uint64_t size = log_->waitForSize(from, std::chrono::milliseconds(200));
    rd_kafka_poll(rk, 0);
    if (size <= from) continue;
    auto entries = log_->read(from, std::min<std::uint64_t>(options_.batch, size - from));
    if (!entries) {
      logEvent(LogLevel::Error, "audit_kafka_read_failed", {{"error", entries.error().describe()}});
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    while (!impl_->deliveries.empty() &&
           impl_->deliveries.front()->ok + impl_->deliveries.front()->failed >= impl_->deliveries.front()->queued) {
      impl_->deliveries.pop_front();
    }
    impl_->deliveries.push_back(std::make_unique<Delivery>());
    Delivery& delivery = *impl_->deliveries.back();
    delivery.queued = static_cast<std::size_t>(-1);  // not trimmed while queueing
    std::size_t queued = 0;
    for (const auto& entry : *entries) {
      const std::string key = partitionKey(entry);
      produceEntry(rk, options_.topic, key, entry, eventIdOf(entry), delivery, stop_);
      ++queued;
      if (stop_) break;
    }
    delivery.queued = queued;
    // Wait for every acknowledgement of the batch; an outage just makes this longer.
    const auto started = std::chrono::steady_clock::now();
    while (delivery.ok + delivery.failed < queued) {
      rd_kafka_poll(rk, 100);
      stalled_ = std::chrono::steady_clock::now() - started > std::chrono::seconds(30);
      if (stop_) {
        // Unacknowledged: not persisted, so resent after the restart.
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(rk, 0);
        return;
      }
    }
    stalled_ = false;
    if (delivery.failed > 0 || queued < entries->size()) {
      // Resent from `from`: duplicates are possible, identified by event_id.
      logEvent(LogLevel::Warn, "audit_kafka_batch_retry", {{"from", from}, {"failed", delivery.failed.load()}});
      continue;
    }
    if (auto p = persistOffset(from + queued); !p) {
      logEvent(LogLevel::Error, "audit_kafka_offset_failed", {{"error", p.error().describe()}});
      continue;
    }
    delivered_ = from + queued;
  }
}

}  // namespace sealgate::appliance
