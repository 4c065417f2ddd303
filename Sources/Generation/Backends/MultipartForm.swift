import Foundation

/// A `multipart/form-data` body (RFC 7578) of text fields and one file, for upstreams that take
/// uploads as a browser form does (ComfyUI's `/upload/image`).
struct MultipartForm {
    let fields: [(String, String)]
    let file: (field: String, filename: String, contentType: String, data: Data)
    /// Random, so it cannot occur inside the file by accident.
    let boundary = "atelier-" + UUID().uuidString.lowercased()

    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    var body: Data {
        var out = Data()
        out.reserveCapacity(file.data.count + 512)
        func line(_ text: String) { out.append(contentsOf: Array((text + "\r\n").utf8)) }
        for (name, value) in fields {
            line("--\(boundary)")
            line("Content-Disposition: form-data; name=\"\(Self.quoted(name))\"")
            line("")
            line(value)
        }
        line("--\(boundary)")
        line("Content-Disposition: form-data; name=\"\(Self.quoted(file.field))\"; filename=\"\(Self.quoted(file.filename))\"")
        line("Content-Type: \(file.contentType)")
        line("")
        out.append(file.data)
        line("")
        line("--\(boundary)--")
        return out
    }

    /// Quotes and line breaks cannot end a header's quoted string early (RFC 7578 §4.2).
    static func quoted(_ text: String) -> String {
        text.replacingOccurrences(of: "\"", with: "%22").replacingOccurrences(of: "\r", with: "%0D").replacingOccurrences(of: "\n", with: "%0A")
    }
}
