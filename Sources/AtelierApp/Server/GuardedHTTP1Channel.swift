import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Hummingbird's HTTP/1 channel with `ConnectionLimits` around it: the guard goes first in the
/// pipeline (it must see raw bytes and the connection's opening), the head observer after the
/// HTTP decoder, and Hummingbird's own idle timeout closes connections with nothing in flight.
struct GuardedHTTP1Channel: HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: Responder
    let limits: ConnectionLimits

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let deadline = HeaderDeadline()
        do {
            try channel.pipeline.syncOperations.addHandler(
                ConnectionGuardHandler(limits: limits, deadline: deadline, logger: logger),
                position: .first
            )
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        // The observer is made here, on the channel's loop, and handed to the pipeline there too.
        let observer = NIOLoopBound(HeadObserver(deadline: deadline), eventLoop: channel.eventLoop)
        let http1 = HTTP1Channel(
            responder: responder,
            configuration: .init(additionalChannelHandlers: [observer.value], idleTimeout: limits.idleTimeout)
        )
        return http1.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with Atelier's connection limits.
    static func guardedHTTP1(_ limits: ConnectionLimits) -> HTTPServerBuilder {
        .init { responder in GuardedHTTP1Channel(responder: responder, limits: limits) }
    }
}
