import Core
import Foundation

/// Which product a bot instance runs (../shared/ARCHITECTURE.md fixes the names).
package enum BotKind: String, Codable, Sendable, CaseIterable {
    /// Seed 002's photo studio.
    case studio
    /// Seed 000's model downloads onto the GPU fleet.
    case downloads
    /// Seed 004's assistant (a persona answers in a chat).
    case assistant
}

/// How a bot receives its updates.
package enum BotMode: String, Codable, Sendable, CaseIterable {
    case polling, webhook
}

/// One Telegram bot as the database keeps it. The token is sealed (`SecretBox`) and never shown
/// again; its fingerprint keeps one token from being registered twice (two instances polling one
/// token is exactly Telegram's 409).
package struct BotRecord: Sendable, Equatable {
    package var id: String
    package var ownerID: String
    package var name: String
    package var kind: BotKind
    package var mode: BotMode
    package var sealedToken: String
    package var tokenFingerprint: String
    /// What Telegram sends back in `X-Telegram-Bot-Api-Secret-Token` on webhook calls.
    package var webhookSecret: String
    /// From getMe, once the bot has been checked or started.
    package var username: String?
    package var telegramID: Int64?
    /// Telegram user ids with the studio's admin role (admin commands, notifications).
    package var adminIDs: [Int64]
    /// The persona an assistant bot answers as; nil: the first persona.
    package var persona: String?
    /// Whether an admin asked for it to run; the process holding its lease runs it.
    package var running: Bool
    package var leaseHolder: String?
    package var leaseExpiresAt: Int64?
    package var lastError: String?
    package var createdAt: Int64
    package var updatedAt: Int64

    package init(
        ownerID: String,
        name: String,
        kind: BotKind,
        mode: BotMode,
        sealedToken: String,
        tokenFingerprint: String,
        adminIDs: [Int64],
        now: Int64
    ) {
        id = ID.make("bot")
        self.ownerID = ownerID
        self.name = name
        self.kind = kind
        self.mode = mode
        self.sealedToken = sealedToken
        self.tokenFingerprint = tokenFingerprint
        webhookSecret = RandomToken.base62(48)
        self.adminIDs = adminIDs
        running = false
        createdAt = now
        updatedAt = now
    }

    /// Held by some process right now.
    package func isLeased(now: Int64) -> Bool {
        leaseHolder != nil && (leaseExpiresAt ?? 0) > now
    }
}
