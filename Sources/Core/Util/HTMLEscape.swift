/// Text put inside HTML (or Telegram's HTML parse mode): `&`, `<`, `>` and `"` as entities, and
/// `'` too when it may end up in a single-quoted attribute.
package enum HTMLEscape {
    package static func escape(_ text: String, apostrophe: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'" where apostrophe: out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
