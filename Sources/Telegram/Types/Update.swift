/// The parts of the Bot API's `Update` the bots read (https://core.telegram.org/bots/api#update).
/// Field names are the API's own, so the JSON maps one to one; unknown fields are ignored.
package struct Update: Codable, Sendable, Equatable {
    package var update_id: Int64
    package var message: Message?
    package var edited_message: Message?
    package var callback_query: CallbackQuery?
    package var pre_checkout_query: PreCheckoutQuery?
    package var my_chat_member: ChatMemberUpdated?
    /// Fields present in the update that could not be read (a shape this code does not expect):
    /// they are left out rather than failing the whole `getUpdates` batch, which would stop the
    /// bot at that update for good. Not part of the JSON.
    package var unreadable: [String] = []

    enum CodingKeys: String, CodingKey {
        case update_id, message, edited_message, callback_query, pre_checkout_query, my_chat_member
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        update_id = try container.decode(Int64.self, forKey: .update_id)
        var unreadable: [String] = []
        func field<T: Decodable>(_ key: CodingKeys) -> T? {
            do { return try container.decodeIfPresent(T.self, forKey: key) } catch {
                unreadable.append(key.stringValue)
                return nil
            }
        }
        message = field(.message)
        edited_message = field(.edited_message)
        callback_query = field(.callback_query)
        pre_checkout_query = field(.pre_checkout_query)
        my_chat_member = field(.my_chat_member)
        self.unreadable = unreadable
    }

    package init(
        update_id: Int64,
        message: Message? = nil,
        callback_query: CallbackQuery? = nil,
        pre_checkout_query: PreCheckoutQuery? = nil
    ) {
        self.update_id = update_id
        self.message = message
        self.callback_query = callback_query
        self.pre_checkout_query = pre_checkout_query
    }

    /// The chat the update belongs to: updates of one chat are handled in order. A pre-checkout
    /// query has none: Telegram wants its answer within 10 s, so it does not wait behind the
    /// chat's slower work.
    package var chatID: Int64? {
        message?.chat.id ?? edited_message?.chat.id ?? callback_query?.message?.chat.id ?? my_chat_member?.chat.id
    }
}

package struct User: Codable, Sendable, Equatable {
    package var id: Int64
    package var is_bot: Bool
    package var first_name: String
    package var last_name: String?
    package var username: String?
    package var language_code: String?

    package init(id: Int64, is_bot: Bool = false, first_name: String, last_name: String? = nil, username: String? = nil, language_code: String? = nil)
    {
        self.id = id
        self.is_bot = is_bot
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
    }
}

package struct Chat: Codable, Sendable, Equatable {
    package var id: Int64
    /// `private`, `group`, `supergroup` or `channel`: the outbound limits differ.
    package var type: String
    package var title: String?
    package var username: String?

    package init(id: Int64, type: String, title: String? = nil, username: String? = nil) {
        self.id = id
        self.type = type
        self.title = title
        self.username = username
    }
}

package struct Message: Codable, Sendable, Equatable {
    package var message_id: Int64
    package var from: User?
    package var chat: Chat
    package var date: Int64
    package var text: String?
    package var caption: String?
    package var photo: [PhotoSize]?
    package var document: Document?
    /// A voice message (OGG/Opus).
    package var voice: Voice?
    /// Photos sent together as an album share it.
    package var media_group_id: String?
    package var successful_payment: SuccessfulPayment?
    package var refunded_payment: RefundedPayment?

    package init(message_id: Int64, from: User? = nil, chat: Chat, date: Int64, text: String? = nil) {
        self.message_id = message_id
        self.from = from
        self.chat = chat
        self.date = date
        self.text = text
    }
}

package struct PhotoSize: Codable, Sendable, Equatable {
    package var file_id: String
    package var file_unique_id: String
    package var width: Int
    package var height: Int
    package var file_size: Int?
}

package struct Document: Codable, Sendable, Equatable {
    package var file_id: String
    package var file_unique_id: String
    package var file_name: String?
    package var mime_type: String?
    package var file_size: Int?
}

package struct Voice: Codable, Sendable, Equatable {
    package var file_id: String
    package var file_unique_id: String
    /// Seconds, as the sender's app measured it.
    package var duration: Int
    package var mime_type: String?
    package var file_size: Int?
}

package struct CallbackQuery: Codable, Sendable, Equatable {
    package var id: String
    package var from: User
    package var message: Message?
    package var data: String?
}

package struct ChatMemberUpdated: Codable, Sendable, Equatable {
    package var chat: Chat
    package var from: User
    package var date: Int64
    package var new_chat_member: ChatMember

    package struct ChatMember: Codable, Sendable, Equatable {
        /// `kicked` when a person blocked the bot in a private chat.
        package var status: String
    }
}
