/// Every `{"ok": false}` answer of the Bot API, typed by what the caller must do about it
/// (https://core.telegram.org/bots/api#making-requests: `error_code`, `description`, and
/// `parameters` with `retry_after` or `migrate_to_chat_id`).
package enum BotAPIError: Error, Sendable, Equatable {
    /// 429: flood control. Nothing may be sent to that chat (or at all) for `seconds`.
    case retryAfter(seconds: Int, description: String)
    /// The group became a supergroup with a new id; resend there.
    case migrated(toChatID: Int64, description: String)
    /// 403: the person blocked the bot, deleted their account, or the bot was kicked.
    case blocked(description: String)
    /// 400 "chat not found" (and "user not found"): the id is wrong or the chat is gone.
    case chatNotFound(description: String)
    /// 401, or 404 for the whole method URL: the token is wrong or revoked.
    case badToken
    /// 409: another process is polling with this token, or a webhook is set.
    case conflict(description: String)
    /// Any other refusal (400 "message is not modified", "message to edit not found", …).
    case refused(code: Int, description: String)
    /// The server did not answer as the Bot API does (a proxy's HTML page, a cut connection).
    case transport(String)

    /// Parses an error answer; `status` is the HTTP status when the body says nothing.
    package static func from(status: Int, body: ErrorBody?) -> BotAPIError {
        let code = body?.error_code ?? status
        let description = body?.description ?? "HTTP \(status)"
        if let seconds = body?.parameters?.retry_after { return .retryAfter(seconds: seconds, description: description) }
        if let chat = body?.parameters?.migrate_to_chat_id { return .migrated(toChatID: chat, description: description) }
        let lower = description.lowercased()
        switch code {
        case 401: return .badToken
        case 404 where lower == "not found" || body == nil: return .badToken
        case 403: return .blocked(description: description)
        case 409: return .conflict(description: description)
        case 429: return .retryAfter(seconds: 1, description: description)
        case 400 where lower.contains("chat not found") || lower.contains("user not found"): return .chatNotFound(description: description)
        default: return .refused(code: code, description: description)
        }
    }

    /// The error body: `{"ok": false, "error_code": 429, "description": "…", "parameters": {…}}`.
    package struct ErrorBody: Decodable, Sendable, Equatable {
        package var error_code: Int?
        package var description: String?
        package var parameters: Parameters?

        package struct Parameters: Decodable, Sendable, Equatable {
            package var retry_after: Int?
            package var migrate_to_chat_id: Int64?
        }
    }
}

extension BotAPIError: CustomStringConvertible {
    /// Never holds the token: the Bot API's descriptions do not, and the URL is never quoted.
    package var description: String {
        switch self {
        case .retryAfter(let seconds, let text): "Telegram flood control: \(text) (retry after \(seconds) s)"
        case .migrated(let chat, let text): "Telegram: \(text) (now chat \(chat))"
        case .blocked(let text), .chatNotFound(let text), .conflict(let text): "Telegram: \(text)"
        case .badToken: "Telegram refused the bot token (Unauthorized); check it with @BotFather"
        case .refused(let code, let text): "Telegram answered \(code): \(text)"
        case .transport(let text): "Telegram Bot API unreachable: \(text)"
        }
    }
}
