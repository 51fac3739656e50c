#include "meshproof/proxy/retry_state.h"

#include <algorithm>
#include <charconv>

#include "meshproof/net/http1_parser.h"

namespace meshproof::proxy {
namespace {

using spec::RetryOn;

constexpr uint32_t bit(RetryOn t) {
  return static_cast<uint32_t>(t);
}

template <typename Fn>
void forEachToken(std::string_view list, Fn&& fn) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) {
      comma = list.size();
    }
    fn(net::http1::trimOws(list.substr(start, comma - start)));
    start = comma + 1;
  }
}

std::optional<uint32_t> parseUint(std::string_view s) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

} // namespace

void ResourceLimit::release() {
  active_.fetch_sub(1, std::memory_order_relaxed);
}

uint32_t parseRetryOnHeader(const std::string& value) {
  uint32_t out = 0;
  forEachToken(value, [&](std::string_view token) {
    if (auto known = spec::retryOnToken(token)) {
      out |= bit(*known);
    }
  });
  return out;
}

RetryState::RetryState(const spec::RetryPolicy& policy,
                       const std::map<std::string, std::string>& headers, core::Random& random,
                       ResourceLimit* breaker, metrics::ClusterStats* stats)
    : enabled_(policy.enabled), retry_on_(policy.enabled ? policy.retry_on : 0),
      codes_(policy.retriable_status_codes), retries_left_(policy.enabled ? policy.num_retries : 0),
      backoff_base_(policy.backoff_base), next_interval_(policy.backoff_base), random_(random),
      breaker_(breaker), stats_(stats) {
  if (headers.empty()) {
    return; // the usual request: none of the overrides below (a find would build a key string)
  }
  // §4.1: x-envoy-retry-on is ORed into the route's conditions; alone it enables one retry.
  if (auto it = headers.find("x-envoy-retry-on"); it != headers.end()) {
    const uint32_t extra = parseRetryOnHeader(it->second);
    if (extra != 0) {
      if (!enabled_) {
        enabled_ = true;
        retries_left_ = 1;
      }
      retry_on_ |= extra;
    }
  }
  if (auto it = headers.find("x-envoy-retriable-status-codes"); it != headers.end()) {
    forEachToken(it->second, [&](std::string_view token) {
      if (auto code = parseUint(token)) {
        codes_.push_back(*code);
      }
    });
  }
  // x-envoy-max-retries replaces the count, but only when some condition is active.
  if (auto it = headers.find("x-envoy-max-retries"); it != headers.end() && retry_on_ != 0) {
    if (auto n = parseUint(net::http1::trimOws(it->second))) {
      retries_left_ = *n;
    }
  }
}

bool RetryState::wouldRetryStatus(int status,
                                  const std::map<std::string, std::string>& headers) const {
  if (!enabled_) {
    return false;
  }
  // A rate-limited response is retried only under envoy-ratelimited.
  if (!headers.empty() && headers.count("x-envoy-ratelimited") != 0) {
    return (retry_on_ & bit(RetryOn::EnvoyRateLimited)) != 0;
  }
  if ((retry_on_ & bit(RetryOn::Http5xx)) != 0 && status >= 500 && status <= 599) {
    return true;
  }
  if ((retry_on_ & bit(RetryOn::GatewayError)) != 0 &&
      (status == 502 || status == 503 || status == 504)) {
    return true;
  }
  if ((retry_on_ & bit(RetryOn::Retriable4xx)) != 0 && status == 409) {
    return true;
  }
  if ((retry_on_ & bit(RetryOn::RetriableStatusCodes)) != 0 &&
      std::find(codes_.begin(), codes_.end(), static_cast<uint32_t>(status)) != codes_.end()) {
    return true;
  }
  // gRPC conditions look at grpc-status in the response headers (trailers are ignored).
  if (auto it = headers.empty() ? headers.end() : headers.find("grpc-status");
      it != headers.end()) {
    if (auto code = parseUint(net::http1::trimOws(it->second))) {
      switch (*code) {
      case 1:
        return (retry_on_ & bit(RetryOn::GrpcCancelled)) != 0;
      case 4:
        return (retry_on_ & bit(RetryOn::GrpcDeadlineExceeded)) != 0;
      case 8:
        return (retry_on_ & bit(RetryOn::GrpcResourceExhausted)) != 0;
      case 13:
        return (retry_on_ & bit(RetryOn::GrpcInternal)) != 0;
      case 14:
        return (retry_on_ & bit(RetryOn::GrpcUnavailable)) != 0;
      default:
        break;
      }
    }
  }
  return false;
}

bool RetryState::wouldRetryReset(ResetReason reason) const {
  if (!enabled_ || reason == ResetReason::Overflow) {
    return false; // overflow is never retried
  }
  // 5xx, gateway-error and reset cover every reset, the per-try timeout included.
  if ((retry_on_ & (bit(RetryOn::Http5xx) | bit(RetryOn::GatewayError) | bit(RetryOn::Reset))) !=
      0) {
    return true;
  }
  switch (reason) {
  case ResetReason::ConnectFailure:
  case ResetReason::ConnectTimeout:
    return (retry_on_ & (bit(RetryOn::ConnectFailure) | bit(RetryOn::ResetBeforeRequest))) != 0;
  case ResetReason::ResetBeforeRequest:
    return (retry_on_ & bit(RetryOn::ResetBeforeRequest)) != 0;
  case ResetReason::RemoteReset:
  case ResetReason::PerTryTimeout:
  case ResetReason::Overflow:
    return false;
  }
  return false;
}

RetryState::Decision RetryState::decide(bool retriable) {
  if (!retriable) {
    return Decision::NoRetry;
  }
  if (retries_left_ == 0) {
    if (stats_ != nullptr) {
      stats_->upstream_rq_retry_limit_exceeded.inc();
    }
    return Decision::LimitExceeded;
  }
  --retries_left_;
  if (breaker_ != nullptr && !holding_slot_) {
    if (!breaker_->tryAcquire()) {
      if (stats_ != nullptr) {
        stats_->upstream_rq_retry_overflow.inc();
      }
      return Decision::Overflow;
    }
    holding_slot_ = true;
  }
  if (stats_ != nullptr) {
    stats_->upstream_rq_retry.inc();
    stats_->upstream_rq_retry_backoff_exponential.inc();
  }
  ++attempts_;
  return Decision::Retry;
}

RetryState::Decision RetryState::onResponse(int status,
                                            const std::map<std::string, std::string>& headers) {
  return decide(wouldRetryStatus(status, headers));
}

RetryState::Decision RetryState::onReset(ResetReason reason) {
  return decide(wouldRetryReset(reason));
}

core::Duration RetryState::backoff() {
  const core::Duration max = backoff_base_ * 10;
  const core::Duration interval = next_interval_;
  if (next_interval_ < max / 2) {
    next_interval_ *= 2;
  } else {
    next_interval_ = max;
  }
  const auto ms = static_cast<uint64_t>(core::toMillis(interval));
  return std::chrono::milliseconds(ms == 0 ? 0 : random_.next() % ms);
}

void RetryState::retryFinished() {
  if (holding_slot_ && breaker_ != nullptr) {
    breaker_->release();
  }
  holding_slot_ = false;
}

} // namespace meshproof::proxy
