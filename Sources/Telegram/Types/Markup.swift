/// Buttons under a message.
package struct InlineKeyboardMarkup: Codable, Sendable, Equatable {
    package var inline_keyboard: [[InlineKeyboardButton]]

    package init(_ rows: [[InlineKeyboardButton]]) { inline_keyboard = rows }
}

package struct InlineKeyboardButton: Codable, Sendable, Equatable {
    package var text: String
    /// At most 64 bytes (Telegram refuses longer).
    package var callback_data: String?
    package var url: String?
    /// Only as the first button of an invoice message.
    package var pay: Bool?

    package init(text: String, callback_data: String? = nil, url: String? = nil, pay: Bool? = nil) {
        self.text = text
        self.callback_data = callback_data
        self.url = url
        self.pay = pay
    }
}

package struct BotCommand: Codable, Sendable, Equatable {
    package var command: String
    package var description: String

    package init(_ command: String, _ description: String) {
        self.command = command
        self.description = description
    }
}

/// What `getFile` answers: `file_path` is valid for at least an hour.
package struct TelegramFile: Codable, Sendable, Equatable {
    package var file_id: String
    package var file_unique_id: String
    package var file_size: Int?
    package var file_path: String?
}

/// One item of `sendMediaGroup`: a photo by file id, URL or an upload attached by name.
package struct InputMediaPhoto: Sendable {
    package var media: InputFile
    package var caption: String?

    package init(_ media: InputFile, caption: String? = nil) {
        self.media = media
        self.caption = caption
    }
}
