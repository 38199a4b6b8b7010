#include "appliance/cli/config_check.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace sealgate::appliance {
namespace {

class ConfigCheckCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("sealgate-config-check-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  int run(const std::string& path, bool files, bool asJson) {
    out_.str("");
    err_.str("");
    return configCheckCommand(path, files, asJson, out_, err_);
  }
  std::filesystem::path dir_;
  std::ostringstream out_, err_;
};

const char* kValid = R"({"pep": {"ca_file": "ca.pem", "cert_file": "server.pem", "public_url": "https://sg.example"},
  "admin": {"ca_file": "ca.pem", "cert_file": "server.pem"}, "hsm": {"pin_file": "hsm.pin"},
  "state": {"rollback_protection": "none"}, "data_dir": "."})";

TEST_F(ConfigCheckCommand, ValidThenFilesThenEveryProblem) {
  const auto conf = write("sealgated.conf", kValid);
  EXPECT_EQ(run(conf, false, false), 0) << err_.str();
  EXPECT_NE(out_.str().find(": valid"), std::string::npos) << out_.str();

  // --files: the three files it names are missing, each named with its key.
  EXPECT_EQ(run(conf, true, false), 1);
  for (const char* key : {"pep.ca_file", "pep.cert_file", "hsm.pin_file"}) {
    EXPECT_NE(err_.str().find(key), std::string::npos) << key << ": " << err_.str();
  }
  write("ca.pem", "x");
  write("server.pem", "x");
  write("hsm.pin", "1234");
  EXPECT_EQ(run(conf, true, false), 0) << err_.str();

  const auto bad = write("bad.conf", R"({"limits": {"max_connections": 0}, "grants": {"max_uses": "many"}, "x": 1})");
  EXPECT_EQ(run(bad, false, false), 1);
  EXPECT_NE(err_.str().find("problems"), std::string::npos) << err_.str();
  for (const char* said : {"config.limits.max_connections must be in", "config.grants.max_uses must be a",
                           "unknown setting config.x", "hsm.pin_file or hsm.pin_env is required"}) {
    EXPECT_NE(err_.str().find(said), std::string::npos) << said << ": " << err_.str();
  }
  EXPECT_EQ(run(bad, false, true), 1);
  const auto report = nlohmann::json::parse(out_.str());
  EXPECT_EQ(report["valid"], false);
  EXPECT_EQ(report["config"], bad);
  bool sawKey = false;
  for (const auto& p : report["problems"]) sawKey = sawKey || p["key"] == "limits.max_connections";
  EXPECT_TRUE(sawKey) << out_.str();
}

TEST_F(ConfigCheckCommand, UnreadableFileIsExitTwo) {
  EXPECT_EQ(run((dir_ / "missing.conf").string(), false, false), 2);
  EXPECT_NE(err_.str().find("cannot read"), std::string::npos);
  EXPECT_EQ(run(write("broken.conf", "{\"pep\": "), false, true), 1);
  EXPECT_NE(out_.str().find("not valid JSON"), std::string::npos) << out_.str();
}

}  // namespace
}  // namespace sealgate::appliance
