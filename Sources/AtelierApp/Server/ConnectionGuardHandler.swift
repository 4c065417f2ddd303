import Core
import Logging
import NIOCore
import NIOHTTPTypes

/// The state the two halves of a connection's guard share; confined to the channel's event loop.
final class HeaderDeadline {
    /// True between a response's end and the next request's head.
    var awaitingHead = true
    var scheduled: Scheduled<Void>?

    func cancel() {
        scheduled?.cancel()
        scheduled = nil
    }
}

/// First in the pipeline, on raw bytes: enforces the per-address cap when the connection opens,
/// and starts the header deadline at the first byte of a request (an idle connection is the idle
/// timeout's business, not this one's).
final class ConnectionGuardHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let limits: ConnectionLimits
    let deadline: HeaderDeadline
    let logger: Logger
    private var counted: IPAddress?

    init(limits: ConnectionLimits, deadline: HeaderDeadline, logger: Logger) {
        self.limits = limits
        self.deadline = deadline
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard counted == nil, limits.maxPerAddress > 0,
            let text = context.channel.remoteAddress?.ipAddress, let address = IPAddress(text)
        else { return }
        guard limits.counter.acquire(address, limit: limits.maxPerAddress) else {
            logger.warning(
                "connection refused: too many open connections from one address",
                metadata: [
                    "client": .string(address.description), "limit": .stringConvertible(limits.maxPerAddress),
                ]
            )
            context.close(promise: nil)
            return
        }
        counted = address
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if deadline.awaitingHead, deadline.scheduled == nil {
            let channel = context.channel
            deadline.scheduled = context.eventLoop.scheduleTask(in: limits.headerTimeout) {
                channel.close(promise: nil)
            }
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        releaseSlot()
        deadline.cancel()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        releaseSlot()
        deadline.cancel()
    }

    private func releaseSlot() {
        if let counted { limits.counter.release(counted) }
        counted = nil
    }
}

/// After the HTTP decoder: a request's head stops the header deadline, a response's end makes the
/// connection wait for the next head again.
final class HeadObserver: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let deadline: HeaderDeadline

    init(deadline: HeaderDeadline) { self.deadline = deadline }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            deadline.awaitingHead = false
            deadline.cancel()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { deadline.awaitingHead = true }
        context.write(data, promise: promise)
    }
}
