#include "meshproof/cli/validate_support.h"

#include <algorithm>

#include "meshproof/core/clock.h"
#include "meshproof/core/time.h"
#include "meshproof/net/http_get.h"
#include "meshproof/spec/spec.h"

namespace meshproof::cli {

std::vector<platform::PodStatus> podsOf(MeshSession& mesh, const std::string& host) {
  std::vector<platform::PodStatus> out;
  for (platform::PodStatus& p : mesh.platform().pods()) {
    auto app = p.labels.find("app");
    if (app != p.labels.end() && spec::shortHost(app->second) == spec::shortHost(host)) {
      out.push_back(std::move(p));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

core::Result<metrics::Exposition> podMetrics(const platform::PodStatus& p) {
  auto reply = net::httpGet(p.admin_port, "/metrics", std::chrono::seconds(5));
  auto text = reply ? metrics::parseExposition(reply->body)
                    : core::Result<metrics::Exposition>(reply.status());
  if (!text) {
    return core::unavailable("pod " + p.name + ": " + text.status().message());
  }
  return text;
}

core::Status setPodBehaviour(const platform::PodStatus& p, const std::string& behaviour) {
  auto reply = net::httpPost(p.port, "/control/behaviour", behaviour, std::chrono::seconds(5));
  if (!reply || reply->status != 200) {
    return core::unavailable("cannot switch pod " + p.name + "'s behaviour" +
                             (reply ? ": " + reply->body : ": " + reply.status().message()));
  }
  return core::Status::ok();
}

nlohmann::json verdictRecord(const std::string& validation, const char* verdict,
                             const std::string& reason, const std::string& host,
                             const std::string& started, const nlohmann::json& rest) {
  nlohmann::json record{{"validation", validation},
                        {"verdict", verdict},
                        {"reason", reason},
                        {"host", host},
                        {"startTime", started},
                        {"endTime", core::formatIso8601(core::RealClock::instance().wallNow())}};
  record.update(rest);
  return record;
}

BackgroundLoad::BackgroundLoad(MeshSession& mesh, load::LoadOptions options) {
  options.target.host = "127.0.0.1";
  options.target.address = "127.0.0.1";
  options.target.port = mesh.ingressPort();
  options.requests.reset();
  options.duration = std::chrono::hours(24); // until stop()
  thread_ = std::thread([this, o = std::move(options)] {
    result_ = std::make_unique<core::Result<load::LoadResult>>(
        load::runLoad(o, core::RealClock::instance(), &stop_));
  });
}

BackgroundLoad::~BackgroundLoad() {
  if (thread_.joinable()) {
    stop_ = true;
    thread_.join();
  }
}

core::Result<load::LoadResult> BackgroundLoad::stop() {
  stop_ = true;
  if (thread_.joinable()) {
    thread_.join();
  }
  return std::move(*result_);
}

} // namespace meshproof::cli
