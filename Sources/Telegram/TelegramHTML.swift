/// Text for `parse_mode: HTML`. Telegram parses `<`, `>` and `&` in message text as markup, so
/// anything a person wrote (a prompt, a name) goes through `escape` before it is put in a message.
package enum TelegramHTML {
    package static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }

    package static func bold(_ text: String) -> String { "<b>\(escape(text))</b>" }

    package static func code(_ text: String) -> String { "<code>\(escape(text))</code>" }

    package static func link(_ text: String, url: String) -> String { "<a href=\"\(escape(url))\">\(escape(text))</a>" }
}
