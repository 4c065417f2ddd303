import Accounts
import ArgumentParser
import AtelierApp
import Core
import Foundation

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Manage accounts.",
        subcommands: [Create.self, List.self, SetRole.self, SetPassword.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an account. The password is read from the terminal (or one line of standard input)."
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "Username: 3–64 of a-z 0-9 . _ - @") var username: String
        @Option(help: "admin, user, web or guest.") var role: String = "user"
        @Option(help: "Display name.") var displayName: String?
        @Option(help: "E-mail address.") var email: String?

        func run() async throws {
            try await CLIErrors.report {
                let role = try UserInput.role(role)
                _ = try UserInput.username(username)
                let password = try PasswordInput.read(prompt: "Password for \(username)")
                let runtime = try await common.open()
                let result = await Result {
                    try await runtime.accounts.createUser(
                        username: username,
                        password: password,
                        role: role,
                        displayName: displayName,
                        email: email
                    )
                }
                await runtime.close()
                let user = try result.get()
                print("created \(user.role.rawValue) \(user.username) (\(user.id))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List accounts.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await CLIErrors.report {
                let runtime = try await common.open()
                var users: [User] = []
                var page = PageRequest(limit: PageRequest.maxLimit)
                let result = await Result {
                    while true {
                        let batch = try await runtime.accounts.users.list(page: page)
                        users += batch.prefix(page.limit)
                        guard batch.count > page.limit, let last = users.last else { break }
                        page.after = last.id
                    }
                }
                await runtime.close()
                try result.get()
                let rows = users.map { user in
                    [
                        user.username, user.role.rawValue, user.disabled ? "disabled" : "active", user.id,
                        ISO8601DateFormatter().string(from: Timestamp.date(user.createdAt)),
                    ]
                }
                Table.print(header: ["USERNAME", "ROLE", "STATUS", "ID", "CREATED"], rows: rows)
            }
        }
    }

    struct SetRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-role", abstract: "Change an account's role.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "Username or id.") var user: String
        @Argument(help: "admin, user, web or guest.") var role: String

        func run() async throws {
            try await CLIErrors.report {
                let role = try UserInput.role(role)
                let runtime = try await common.open()
                let result = await Result {
                    try await runtime.accounts.update(try await runtime.accounts.find(user), .init(role: role))
                }
                await runtime.close()
                let updated = try result.get()
                print("\(updated.username) is now \(updated.role.rawValue)")
            }
        }
    }

    struct SetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-password",
            abstract: "Set an account's password (read from the terminal or standard input); logs it out everywhere."
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "Username or id.") var user: String

        func run() async throws {
            try await CLIErrors.report {
                let password = try UserInput.password(try PasswordInput.read(prompt: "New password for \(user)"))
                let runtime = try await common.open()
                let result = await Result {
                    try await runtime.accounts.update(try await runtime.accounts.find(user), .init(password: password))
                }
                await runtime.close()
                print("password of \(try result.get().username) changed")
            }
        }
    }
}
