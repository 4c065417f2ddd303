import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads a password without it ever being a command-line argument (where `ps` and shell history
/// would see it): from a terminal with echo off and a confirmation, or one line of standard input.
enum PasswordInput {
    static func read(prompt: String) throws -> String {
        if isatty(STDIN_FILENO) == 1 {
            let first = try readHidden(prompt)
            let second = try readHidden("Repeat \(prompt.lowercased())")
            guard first == second else { throw PasswordInputError(message: "the two passwords differ") }
            return first
        }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw PasswordInputError(message: "expected the password on standard input")
        }
        return line
    }

    static func readHidden(_ prompt: String) throws -> String {
        FileHandle.standardError.write(Data("\(prompt): ".utf8))
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &silent)
        defer {
            tcsetattr(STDIN_FILENO, TCSANOW, &saved)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = readLine(strippingNewline: true) else {
            throw PasswordInputError(message: "no password was entered")
        }
        return line
    }
}

struct PasswordInputError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
