import Core
import Foundation

/// Reads seed 003's `app/models_config.py` as it is: the `AVAILABLE_MODELS = {...}` and
/// `AVAILABLE_LORAS = {...}` assignments, whose values are `ModelConfig(...)`/`LoRAConfig(...)`
/// calls (or dicts) with literal arguments. Only literals are understood (strings, numbers, True,
/// False, None, lists, tuples, dicts); anything else is an error that names the line.
package enum PythonModelsConfig {
    package static func parse(_ source: String) throws -> CatalogImport {
        var models: [String: CatalogImport.Item] = [:]
        var loras: [String: CatalogImport.Item] = [:]
        for (name, target) in [("AVAILABLE_MODELS", 0), ("AVAILABLE_LORAS", 1)] {
            guard let range = source.range(of: #"(?m)^\s*"# + name + #"\s*(:[^=]*)?=\s*"#, options: .regularExpression) else { continue }
            var parser = Parser(
                text: Array(source.unicodeScalars),
                position: source.unicodeScalars.distance(
                    from: source.unicodeScalars.startIndex,
                    to: range.upperBound.samePosition(in: source.unicodeScalars)!
                )
            )
            guard case .dict(let entries) = try parser.value() else {
                throw parser.error("\(name) must be a dict")
            }
            for (key, value) in entries {
                guard case .string(let key) = key else { throw parser.error("\(name) keys must be strings") }
                let item = try Self.item(value, key: key, parser: parser)
                if target == 0 { models[key] = item } else { loras[key] = item }
            }
        }
        guard !models.isEmpty || !loras.isEmpty else {
            throw AppError.validation(field: "file", "no AVAILABLE_MODELS or AVAILABLE_LORAS found")
        }
        return CatalogImport(models: models, loras: loras)
    }

    static func item(_ value: Value, key: String, parser: Parser) throws -> CatalogImport.Item {
        let fields: [(String, Value)]
        switch value {
        case .call(_, let arguments): fields = arguments
        case .dict(let entries):
            fields = try entries.map { entry in
                guard case .string(let name) = entry.0 else { throw parser.error("'\(key)': field names must be strings") }
                return (name, entry.1)
            }
        default: throw parser.error("'\(key)' must be a ModelConfig(...)/LoRAConfig(...) call or a dict")
        }
        func string(_ name: String) -> String? {
            if case .string(let text)? = fields.first(where: { $0.0 == name })?.1 { return text }
            return nil
        }
        func number(_ name: String) -> Double? {
            if case .number(let value)? = fields.first(where: { $0.0 == name })?.1 { return value }
            return nil
        }
        var words: [String]?
        if case .list(let values)? = fields.first(where: { $0.0 == "trigger_words" })?.1 {
            words = values.compactMap { if case .string(let text) = $0 { text } else { nil } }
        }
        guard let name = string("name") else { throw parser.error("'\(key)' has no name=") }
        return CatalogImport.Item(
            name: name,
            path: string("path"),
            vae_path: string("vae_path"),
            default_negative: string("default_negative"),
            default_weight: number("default_weight"),
            trigger_words: words,
            description: string("description"),
            civitai_model_id: number("civitai_model_id").map { Int($0) },
            civitai_version_id: number("civitai_version_id").map { Int($0) },
            base_model: string("base_model")
        )
    }

    indirect enum Value {
        case string(String)
        case number(Double)
        case bool(Bool)
        case none
        case list([Value])
        case dict([(Value, Value)])
        case call(String, [(String, Value)])
    }

    struct Parser {
        let text: [Unicode.Scalar]
        var position: Int

        func error(_ message: String) -> AppError {
            let line = text[..<min(position, text.count)].filter { $0 == "\n" }.count + 1
            return AppError.validation(field: "file", "line \(line): \(message)")
        }

        mutating func skipSpace() {
            while position < text.count {
                let c = text[position]
                if c == "#" {
                    while position < text.count && text[position] != "\n" { position += 1 }
                } else if c == " " || c == "\t" || c == "\n" || c == "\r" || (c == "\\" && peek(1) == "\n") {
                    position += c == "\\" ? 2 : 1
                } else {
                    return
                }
            }
        }

        func peek(_ offset: Int = 0) -> Unicode.Scalar? {
            position + offset < text.count ? text[position + offset] : nil
        }

        mutating func expect(_ c: Unicode.Scalar) throws {
            skipSpace()
            guard peek() == c else { throw error("expected '\(c)'") }
            position += 1
        }

        mutating func value() throws -> Value {
            skipSpace()
            guard let c = peek() else { throw error("unexpected end of file") }
            switch c {
            case "\"", "'": return .string(try strings())
            case "{": return try dict()
            case "[": return .list(try sequence(close: "]"))
            case "(": return .list(try sequence(close: ")"))
            default:
                if c == "-" || c == "+" || ("0"..."9").contains(c) || c == "." { return .number(try number()) }
                let word = identifier()
                switch word {
                case "True": return .bool(true)
                case "False": return .bool(false)
                case "None": return .none
                case "": throw error("unexpected '\(c)'")
                default:
                    skipSpace()
                    guard peek() == "(" else { throw error("'\(word)' is not a literal") }
                    return try call(word)
                }
            }
        }

        /// Adjacent string literals concatenate, as in Python.
        mutating func strings() throws -> String {
            var result = ""
            while true {
                skipSpace()
                guard let quote = peek(), quote == "\"" || quote == "'" else { return result }
                result += try string(quote)
            }
        }

        mutating func string(_ quote: Unicode.Scalar) throws -> String {
            let triple = peek(1) == quote && peek(2) == quote
            position += triple ? 3 : 1
            var out = String.UnicodeScalarView()
            while let c = peek() {
                if c == quote && (!triple || (peek(1) == quote && peek(2) == quote)) {
                    position += triple ? 3 : 1
                    return String(out)
                }
                if c == "\\", let next = peek(1) {
                    position += 2
                    switch next {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "\n": break
                    default: out.append(next)
                    }
                    continue
                }
                if c == "\n" && !triple { break }
                out.append(c)
                position += 1
            }
            throw error("unterminated string")
        }

        mutating func number() throws -> Double {
            let start = position
            while let c = peek(), "+-0123456789.eE_".unicodeScalars.contains(c) { position += 1 }
            let literal = String(String.UnicodeScalarView(text[start..<position])).replacingOccurrences(of: "_", with: "")
            guard let value = Double(literal) else { throw error("'\(literal)' is not a number") }
            return value
        }

        mutating func identifier() -> String {
            let start = position
            while let c = peek(), c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_" || c == "." { position += 1 }
            return String(String.UnicodeScalarView(text[start..<position]))
        }

        mutating func sequence(close: Unicode.Scalar) throws -> [Value] {
            position += 1
            var values: [Value] = []
            while true {
                skipSpace()
                if peek() == close {
                    position += 1
                    return values
                }
                values.append(try value())
                skipSpace()
                if peek() == "," { position += 1 } else if peek() != close { throw error("expected ',' or '\(close)'") }
            }
        }

        mutating func dict() throws -> Value {
            position += 1
            var entries: [(Value, Value)] = []
            while true {
                skipSpace()
                if peek() == "}" {
                    position += 1
                    return .dict(entries)
                }
                let key = try value()
                try expect(":")
                entries.append((key, try value()))
                skipSpace()
                if peek() == "," { position += 1 } else if peek() != "}" { throw error("expected ',' or '}'") }
            }
        }

        mutating func call(_ name: String) throws -> Value {
            position += 1
            var arguments: [(String, Value)] = []
            while true {
                skipSpace()
                if peek() == ")" {
                    position += 1
                    return .call(name, arguments)
                }
                let keyword = identifier()
                guard !keyword.isEmpty else { throw error("\(name)(...) takes keyword arguments only") }
                try expect("=")
                arguments.append((keyword, try value()))
                skipSpace()
                if peek() == "," { position += 1 } else if peek() != ")" { throw error("expected ',' or ')'") }
            }
        }
    }
}
