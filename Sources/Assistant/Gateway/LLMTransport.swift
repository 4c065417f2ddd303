import Core

/// How the gateway reaches LLM and speech upstreams: each provider's address is checked (no
/// private hosts unless allowed) and the connection pinned to it.
package typealias LLMTransport = OutboundTransport
