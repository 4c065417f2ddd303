/// A secret value (password, token, signing key). Its description is redacted, so interpolating it
/// into a log line or an error message cannot leak it; read `.value` only where it is used.
package struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    package let value: String

    package init(_ value: String) { self.value = value }

    package var description: String { "<redacted>" }
    package var debugDescription: String { "<redacted>" }
    package var isEmpty: Bool { value.isEmpty }
}
