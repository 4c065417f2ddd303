import Foundation

/// A `multipart/form-data` body (RFC 7578) of text fields and files, for upstreams that take
/// uploads as a browser form does (ComfyUI's `/upload/image`, the Telegram Bot API).
package struct MultipartForm: Sendable {
    package struct File: Sendable {
        package var field: String
        package var filename: String
        package var contentType: String
        package var data: Data

        package init(field: String, filename: String, contentType: String, data: Data) {
            self.field = field
            self.filename = filename
            self.contentType = contentType
            self.data = data
        }
    }

    package var fields: [(String, String)]
    package var files: [File]
    /// Random, so it cannot occur inside a file by accident.
    package let boundary = "atelier-" + UUID().uuidString.lowercased()

    package init(fields: [(String, String)], files: [File]) {
        self.fields = fields
        self.files = files
    }

    package var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    package var body: Data {
        var out = Data()
        out.reserveCapacity(files.reduce(512) { $0 + $1.data.count + 256 })
        func line(_ text: String) { out.append(contentsOf: Array((text + "\r\n").utf8)) }
        for (name, value) in fields {
            line("--\(boundary)")
            line("Content-Disposition: form-data; name=\"\(Self.quoted(name))\"")
            line("")
            line(value)
        }
        for file in files {
            line("--\(boundary)")
            line("Content-Disposition: form-data; name=\"\(Self.quoted(file.field))\"; filename=\"\(Self.quoted(file.filename))\"")
            line("Content-Type: \(file.contentType)")
            line("")
            out.append(file.data)
            line("")
        }
        line("--\(boundary)--")
        return out
    }

    /// Quotes and line breaks cannot end a header's quoted string early (RFC 7578 §4.2).
    static func quoted(_ text: String) -> String {
        text.replacingOccurrences(of: "\"", with: "%22").replacingOccurrences(of: "\r", with: "%0D").replacingOccurrences(of: "\n", with: "%0A")
    }
}
