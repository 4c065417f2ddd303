/// Roles, from most to least powerful. `admin` sees everything; `user` and `web` read and write their
/// own resources; `guest` only reads (seed 004's RBAC table).
package enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    case admin, user, web, guest

    var rank: Int {
        switch self {
        case .admin: 3
        case .user, .web: 2
        case .guest: 1
        }
    }

    package static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }

    package static func parse(_ text: String) -> Role? { Role(rawValue: text.lowercased()) }
}

/// Who is making the request, once authenticated. Shared vocabulary: every feature reads it to decide
/// what the caller may see (see `OwnerScope` in Accounts).
package struct Principal: Sendable, Equatable {
    package enum Method: String, Sendable {
        case jwt
        case apiKey = "api_key"
    }
    package var userID: String
    package var username: String
    package var role: Role
    package var method: Method
    /// The API key's id when `method` is `.apiKey` (usage and limits are kept per key).
    package var keyID: String?

    package init(userID: String, username: String, role: Role, method: Method, keyID: String? = nil) {
        self.userID = userID
        self.username = username
        self.role = role
        self.method = method
        self.keyID = keyID
    }

    package var isAdmin: Bool { role == .admin }
}
