// The Kafka sink against librdkafka's mock cluster (docs/DEVELOPMENT.md, "Kafka mock cluster"), with
// injected broker errors for the outage.
#include "appliance/audit/audit_kafka.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "appliance/keys/signing_keys.h"
#include "tests/support/temp_token.h"

namespace sealgate::appliance {
namespace {

using nlohmann::json;

hsm::KeyStore& kafkaKeys() {
  static std::unique_ptr<hsm::KeyStore> keys = [] {
    auto k = testing::openFreshToken("audit-kafka-test");
    if (!k->generateEcP256Key("sealgate-audit-es256-v1")) std::abort();
    return k;
  }();
  return *keys;
}

constexpr const char* kTopic = "sealgate-audit";

class MockCluster {
 public:
  MockCluster() {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    owner_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    cluster_ = rd_kafka_mock_cluster_new(owner_, 3);
    rd_kafka_mock_topic_create(cluster_, kTopic, 4, 3);
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(owner_);
  }
  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
  rd_kafka_mock_cluster_t* get() { return cluster_; }

  // Every message of the topic, per partition in offset order.
  std::map<int, std::vector<std::string>> readAll(std::size_t expected) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps().c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "audit-test", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(4);
    for (int p = 0; p < 4; ++p) rd_kafka_topic_partition_list_add(parts, kTopic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    std::map<int, std::vector<std::string>> out;
    std::size_t got = 0;
    for (int idle = 0; idle < 50 && got < expected;) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 100);
      if (!m) {
        ++idle;
        continue;
      }
      if (!m->err) {
        out[m->partition].emplace_back(static_cast<const char*>(m->payload), m->len);
        ++got;
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return out;
  }

 private:
  rd_kafka_t* owner_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

std::string tempDir() {
  char tmpl[] = "/tmp/sealgate-kafka-XXXXXX";
  return mkdtemp(tmpl);
}

std::unique_ptr<MerkleAuditLog> openLog(const std::string& dir) {
  auto s = hsmCheckpointSigner(kafkaKeys(), "sealgate-audit-es256");
  AuditLogOptions o;
  o.dir = dir;
  o.checkpointEvery = 100;
  auto log = MerkleAuditLog::open(o, std::move(*s));
  if (!log) std::abort();
  return std::move(*log);
}

void appendEvents(MerkleAuditLog& log, int from, int to) {
  static const char* tenants[] = {"acme", "globex", "initech"};
  for (int i = from; i < to; ++i) {
    ASSERT_TRUE(log.append(json{{"type", "authorize"}, {"tenant", tenants[i % 3]}, {"n", i}}.dump()).ok());
  }
}

// Waits (bounded: a deadline, not a performance assertion) until Kafka took `n`.
bool waitDelivered(const KafkaForwarder& f, std::uint64_t n) {
  for (int i = 0; i < 1200 && f.delivered() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return f.delivered() >= n;
}

// Every entry of the log is in Kafka exactly where its key puts it, in order.
void expectAllInOrder(MockCluster& cluster, MerkleAuditLog& log, bool allowDuplicates) {
  const std::uint64_t n = log.size();
  auto partitions = cluster.readAll(allowDuplicates ? n * 2 : n);
  std::set<std::string> seen;
  std::size_t total = 0;
  std::map<std::string, int> partitionOfTenant;
  for (const auto& [p, messages] : partitions) {
    std::map<std::string, std::int64_t> lastIndex;  // per tenant (partition key)
    for (const auto& m : messages) {
      json e = json::parse(m);
      const std::string tenant = e["tenant"];
      if (partitionOfTenant.count(tenant)) {
        EXPECT_EQ(partitionOfTenant[tenant], p) << "one key, one partition";
      }
      partitionOfTenant[tenant] = p;
      const std::int64_t idx = e["audit_index"];
      const bool duplicate = !seen.insert(e["event_id"].get<std::string>()).second;
      if (duplicate) {
        EXPECT_TRUE(allowDuplicates) << "duplicate without a restart: " << idx;
      } else {
        EXPECT_GT(idx, lastIndex.count(tenant) ? lastIndex[tenant] : -1) << "out of order for " << tenant;
        lastIndex[tenant] = idx;
      }
      ++total;
    }
  }
  EXPECT_EQ(seen.size(), n) << "every event, none lost";
  if (!allowDuplicates) {
    EXPECT_EQ(total, n);
  }
  auto entries = log.read(0, n);
  ASSERT_TRUE(entries.ok());
  for (const auto& e : *entries) EXPECT_TRUE(seen.count(json::parse(e)["event_id"].get<std::string>()));
}

TEST(KafkaForwarder, DeliversEveryEventInOrderPerKeyThroughInjectedBrokerErrors) {
  MockCluster cluster;
  const std::string dir = tempDir();
  auto log = openLog(dir);
  KafkaSinkOptions o;
  o.bootstrapServers = cluster.bootstraps();
  o.topic = kTopic;
  o.offsetFile = dir + "/kafka.offset";
  o.batch = 25;
  auto f = KafkaForwarder::start(*log, o);
  ASSERT_TRUE(f.ok()) << f.error().describe();
  appendEvents(*log, 0, 30);
  ASSERT_TRUE(waitDelivered(**f, 30));
  // The outage: Produce requests (ApiKey 0) fail with retriable broker errors.
  rd_kafka_mock_push_request_errors(
      cluster.get(), 0, 12, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
      RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR__TRANSPORT,
      RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
  appendEvents(*log, 30, 120);
  ASSERT_TRUE(waitDelivered(**f, 120)) << "delivered " << (*f)->delivered();
  f->reset();
  expectAllInOrder(cluster, *log, /*allowDuplicates=*/false);
  // The offset is persisted in the audit dir.
  std::ifstream in(dir + "/kafka.offset");
  std::uint64_t offset = 0;
  in >> offset;
  EXPECT_EQ(offset, 120u);
  std::filesystem::remove_all(dir);
}

TEST(KafkaForwarder, ABrokerOutageAcrossARestartLosesNothing) {
  MockCluster cluster;
  const std::string dir = tempDir();
  auto log = openLog(dir);
  KafkaSinkOptions o;
  o.bootstrapServers = cluster.bootstraps();
  o.topic = kTopic;
  o.offsetFile = dir + "/kafka.offset";
  o.batch = 10;
  {
    auto f = KafkaForwarder::start(*log, o);
    ASSERT_TRUE(f.ok());
    appendEvents(*log, 0, 20);
    ASSERT_TRUE(waitDelivered(**f, 20));
    // All brokers down: events keep being accepted by the log, none reach Kafka.
    for (int b = 1; b <= 3; ++b) rd_kafka_mock_broker_set_down(cluster.get(), b);
    appendEvents(*log, 20, 60);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_LT((*f)->delivered(), 60u);
  }  // the appliance restarts during the outage
  for (int b = 1; b <= 3; ++b) rd_kafka_mock_broker_set_up(cluster.get(), b);
  auto f = KafkaForwarder::start(*log, o);
  ASSERT_TRUE(f.ok());
  appendEvents(*log, 60, 80);
  ASSERT_TRUE(waitDelivered(**f, 80)) << "delivered " << (*f)->delivered();
  f->reset();
  // Duplicates may follow the restart; event_id identifies them; nothing is lost.
  expectAllInOrder(cluster, *log, /*allowDuplicates=*/true);
  std::filesystem::remove_all(dir);
}

TEST(KafkaForwarder, RejectsAnOffsetPastTheLogAndBadSettings) {
  const std::string dir = tempDir();
  auto log = openLog(dir);
  appendEvents(*log, 0, 3);
  std::ofstream(dir + "/kafka.offset") << "10\n";
  KafkaSinkOptions o;
  o.bootstrapServers = "127.0.0.1:1";
  o.offsetFile = dir + "/kafka.offset";
  auto f = KafkaForwarder::start(*log, o);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, ErrorCode::AuditLogCorrupt);
  std::ofstream(dir + "/kafka.offset") << "garbage\n";
  EXPECT_EQ(KafkaForwarder::start(*log, o).error().code, ErrorCode::AuditLogCorrupt);
  std::filesystem::remove(dir + "/kafka.offset");
  o.extra["no.such.property"] = "1";
  EXPECT_EQ(KafkaForwarder::start(*log, o).error().code, ErrorCode::ConfigInvalid);
  EXPECT_EQ(KafkaForwarder::partitionKey(R"({"tenant":"acme"})"), "acme");
  EXPECT_EQ(KafkaForwarder::partitionKey(R"({"type":"policy_update"})"), "-");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sealgate::appliance
