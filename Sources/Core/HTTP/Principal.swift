/// Roles, from most to least powerful. `admin` sees everything; `user` and `web` read and write their
/// own resources; `guest` only reads (seed 004's RBAC table).
public enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    case admin, user, web, guest

    var rank: Int {
        switch self {
        case .admin: 3
        case .user, .web: 2
        case .guest: 1
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }

    public static func parse(_ text: String) -> Role? { Role(rawValue: text.lowercased()) }
}

/// Who is making the request, once authenticated. Shared vocabulary: every feature reads it to decide
/// what the caller may see (see `OwnerScope` in Accounts).
public struct Principal: Sendable, Equatable {
    public enum Method: String, Sendable { case jwt, apiKey = "api_key" }
    public var userID: String
    public var username: String
    public var role: Role
    public var method: Method

    public init(userID: String, username: String, role: Role, method: Method) {
        self.userID = userID
        self.username = username
        self.role = role
        self.method = method
    }

    public var isAdmin: Bool { role == .admin }
}
