import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Network failures in the words a user reads: "connection refused", not NIO's "connection reset
/// (error set): Connection refused (errno: 111)". One place for downloads, fleet nodes, GPU
/// backends and the Telegram client.
package enum NetworkErrors {
    package static func describe(_ error: any Error) -> String {
        switch error {
        case let error as any WrappedNetworkError: return describe(error.underlying)
        case let error as AppError: return error.detail
        case let error as HTTPClientError: return describe(error)
        case let error as IOError: return describe(errno: error.errnoCode) ?? firstLine(error)
        case let error as NIOConnectionError:
            // AsyncHTTPClient without connection retries reports one target's failure; the
            // first connection error is the one that says why.
            if let first = error.connectionErrors.first { return describe(first.error) }
            if error.dnsAError != nil || error.dnsAAAAError != nil { return "host not found" }
            return "could not connect"
        case is SocketAddressError, is SocketAddressError.UnknownHost: return "host not found"
        case let error as ChannelError:
            switch error {
            case .connectTimeout: return "timed out connecting"
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed: return "the connection was closed"
            default: return firstLine(error)
            }
        default: return firstLine(error)
        }
    }

    static func describe(_ error: HTTPClientError) -> String {
        switch error {
        case .connectTimeout: return "timed out connecting"
        case .readTimeout: return "timed out waiting for an answer"
        case .deadlineExceeded: return "timed out"
        case .remoteConnectionClosed: return "the connection was closed by the other side"
        case .cancelled: return "cancelled"
        case .tlsHandshakeTimeout: return "timed out in the TLS handshake"
        default: return firstLine(error)
        }
    }

    static func describe(errno code: CInt) -> String? {
        switch code {
        case ECONNREFUSED: return "connection refused"
        case ECONNRESET: return "connection reset"
        case ETIMEDOUT: return "timed out connecting"
        case EHOSTUNREACH: return "host unreachable"
        case ENETUNREACH: return "network unreachable"
        case EPIPE: return "the connection was closed"
        case EADDRNOTAVAIL: return "address not available"
        default: return nil
        }
    }

    static func firstLine(_ error: any Error) -> String {
        let text = String(describing: error)
        return text.split(separator: "\n").first.map(String.init) ?? text
    }
}

/// An error that carries the network error behind it (with where it happened), described by it.
package protocol WrappedNetworkError: Error {
    var underlying: any Error { get }
}
