import Core

/// How backends reach the network: every request to a worker's endpoint, and to an image URL a
/// backend answered with, goes through the installation's address policy.
package typealias BackendTransport = OutboundTransport
