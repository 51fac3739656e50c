#pragma once
// Internal to spec/: readers for each kind's `spec` block. Each reports problems through the
// Node's DocContext and appends the object to `out` (the caller discards `out` when errors exist).

#include "meshproof/spec/reader.h"
#include "meshproof/spec/spec.h"

namespace meshproof::spec::detail {

void readVirtualService(const Node& spec, ObjectMeta meta, Spec& out);
void readDestinationRule(const Node& spec, ObjectMeta meta, Spec& out);
void readServiceEntry(const Node& spec, ObjectMeta meta, Spec& out);

void readWorkload(const Node& spec, ObjectMeta meta, Spec& out);
void readGateway(const Node& spec, ObjectMeta meta, Spec& out);
void readSprint(const Node& spec, ObjectMeta meta, Spec& out);

// Checks that span documents (unknown subsets, duplicate names, dangling hosts); appends errors.
void crossCheck(const Spec& spec, Diagnostics& out);

// Parses a retryOn string as Istio validates it (split on ',' without trimming; tokens from the
// supported list or HTTP status codes). On success fills policy.retry_on and retriable codes.
// On failure returns the message naming the first bad token.
std::optional<std::string> parseRetryOn(std::string_view text, RetryPolicy& policy);

} // namespace meshproof::spec::detail
