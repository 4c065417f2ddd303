import Core

/// Text for `parse_mode: HTML`. Telegram parses `<`, `>` and `&` in message text as markup, so
/// anything a person wrote (a prompt, a name) goes through `escape` before it is put in a message.
package enum TelegramHTML {
    package static func escape(_ text: String) -> String { HTMLEscape.escape(text) }

    package static func bold(_ text: String) -> String { "<b>\(escape(text))</b>" }

    package static func code(_ text: String) -> String { "<code>\(escape(text))</code>" }

    package static func link(_ text: String, url: String) -> String { "<a href=\"\(escape(url))\">\(escape(text))</a>" }
}
