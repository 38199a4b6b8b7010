#include "appliance/connectors/socket_deadline.h"

#include <sys/socket.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace sealgate::connectors {

namespace {

// One thread for every armed deadline in the process.
class Reaper {
 public:
  static Reaper& instance() {
    static Reaper* r = new Reaper();  // never destroyed: connector calls may run during exit
    return *r;
  }
  std::uint64_t arm(int fd, SocketDeadline::Clock::time_point at) {
    std::lock_guard lock(mu_);
    const std::uint64_t id = ++next_;
    armed_[id] = Entry{fd, at};
    cv_.notify_one();
    return id;
  }
  void disarm(std::uint64_t id) {
    std::lock_guard lock(mu_);
    armed_.erase(id);
    expired_.erase(id);
  }
  bool expired(std::uint64_t id) {
    std::lock_guard lock(mu_);
    return expired_.count(id) != 0;
  }

 private:
  struct Entry {
    int fd;
    SocketDeadline::Clock::time_point at;
  };
  Reaper() : thread_([this] { loop(); }) { thread_.detach(); }
  void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      auto next = SocketDeadline::Clock::time_point::max();
      const auto now = SocketDeadline::Clock::now();
      for (auto it = armed_.begin(); it != armed_.end();) {
        if (it->second.at <= now) {
          // Still armed, so the owner has not closed the descriptor yet.
          ::shutdown(it->second.fd, SHUT_RDWR);
          expired_.insert(it->first);
          it = armed_.erase(it);
        } else {
          next = std::min(next, it->second.at);
          ++it;
        }
      }
      if (next == SocketDeadline::Clock::time_point::max()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, next);
      }
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::uint64_t, Entry> armed_;
  std::set<std::uint64_t> expired_;
  std::uint64_t next_ = 0;
  std::thread thread_;
};

}  // namespace

SocketDeadline::SocketDeadline(int fd, Clock::time_point deadline) : id_(Reaper::instance().arm(fd, deadline)) {}
SocketDeadline::~SocketDeadline() { Reaper::instance().disarm(id_); }
bool SocketDeadline::expired() const { return Reaper::instance().expired(id_); }

}  // namespace sealgate::connectors
