import Core
import Foundation

// Wire types of the accounts API: snake_case JSON, RFC 3339 times, never a password hash.

struct LoginRequest: Decodable {
    var username: String
    var password: String
}

struct LoginResponse: Encodable, Sendable {
    var access_token: String
    var token_type = "Bearer"
    var expires_in: Int
}

package struct UserResponse: Encodable, Sendable {
    var id: String
    var username: String
    var role: String
    var display_name: String?
    var email: String?
    var disabled: Bool
    var created_at: Date
    var updated_at: Date
    var last_login_at: Date?

    init(_ user: User) {
        id = user.id
        username = user.username
        role = user.role.rawValue
        display_name = user.displayName
        email = user.email
        disabled = user.disabled
        created_at = Timestamp.date(user.createdAt)
        updated_at = Timestamp.date(user.updatedAt)
        last_login_at = user.lastLoginAt.map(Timestamp.date)
    }

    package func encode(to encoder: any Encoder) throws {
        // Encode optionals as explicit nulls so the shape is the same for every user.
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(username, forKey: .username)
        try c.encode(role, forKey: .role)
        try c.encode(display_name, forKey: .display_name)
        try c.encode(email, forKey: .email)
        try c.encode(disabled, forKey: .disabled)
        try c.encode(created_at, forKey: .created_at)
        try c.encode(updated_at, forKey: .updated_at)
        try c.encode(last_login_at, forKey: .last_login_at)
    }

    enum CodingKeys: String, CodingKey {
        case id, username, role, display_name, email, disabled, created_at, updated_at, last_login_at
    }
}

struct AuthStatusResponse: Encodable, Sendable {
    var authenticated: Bool
    var auth_enabled = true
    var user: UserResponse?

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(authenticated, forKey: .authenticated)
        try c.encode(auth_enabled, forKey: .auth_enabled)
        try c.encode(user, forKey: .user)
    }

    enum CodingKeys: String, CodingKey { case authenticated, auth_enabled, user }
}

/// Decodes a field that may be absent (leave as is) or null (clear): `nil` vs `.some(nil)`.
extension KeyedDecodingContainer {
    func decodeClearable(_ key: Key) throws -> String?? {
        contains(key) ? .some(try decodeIfPresent(String.self, forKey: key)) : nil
    }
}

struct ProfileUpdate: Decodable {
    var display_name: String??
    var email: String??

    enum CodingKeys: String, CodingKey { case display_name, email }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        display_name = try c.decodeClearable(.display_name)
        email = try c.decodeClearable(.email)
    }
}

struct ChangePasswordRequest: Decodable {
    var current_password: String
    var new_password: String
}

struct StatusMessage: Encodable, Sendable {
    var status = "ok"
    var message: String
}

struct CreateUserRequest: Decodable {
    var username: String
    var password: String
    var role: String?
    var display_name: String?
    var email: String?
}

struct UpdateUserRequest: Decodable {
    var role: String?
    var display_name: String??
    var email: String??
    var disabled: Bool?
    var password: String?

    enum CodingKeys: String, CodingKey { case role, display_name, email, disabled, password }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        role = try c.decodeIfPresent(String.self, forKey: .role)
        display_name = try c.decodeClearable(.display_name)
        email = try c.decodeClearable(.email)
        disabled = try c.decodeIfPresent(Bool.self, forKey: .disabled)
        password = try c.decodeIfPresent(String.self, forKey: .password)
    }
}

struct CreateKeyRequest: Decodable {
    var name: String
    var expires_in_days: Int?
}

struct APIKeyResponse: Encodable, Sendable {
    var id: String
    var name: String
    var prefix: String
    var owner_id: String
    var created_at: Date
    var expires_at: Date?
    var last_used_at: Date?
    var revoked_at: Date?
    /// The whole key: present only in the answer to its creation.
    var key: String?

    init(_ key: APIKey, plaintext: String? = nil) {
        id = key.id
        name = key.name
        prefix = APIKey.scheme + key.prefix
        owner_id = key.ownerID
        created_at = Timestamp.date(key.createdAt)
        expires_at = key.expiresAt.map(Timestamp.date)
        last_used_at = key.lastUsedAt.map(Timestamp.date)
        revoked_at = key.revokedAt.map(Timestamp.date)
        self.key = plaintext
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(prefix, forKey: .prefix)
        try c.encode(owner_id, forKey: .owner_id)
        try c.encode(created_at, forKey: .created_at)
        try c.encode(expires_at, forKey: .expires_at)
        try c.encode(last_used_at, forKey: .last_used_at)
        try c.encode(revoked_at, forKey: .revoked_at)
        try c.encodeIfPresent(key, forKey: .key)
    }

    enum CodingKeys: String, CodingKey {
        case id, name, prefix, owner_id, created_at, expires_at, last_used_at, revoked_at, key
    }
}

/// OpenAPI schemas of the wire types above.
enum AccountsSchemas {
    static let user = Schema.object(
        [
            ("id", Schema.string), ("username", Schema.string),
            ("role", Schema.string(enum: Role.allCases.map(\.rawValue))),
            ("display_name", Schema.nullable(Schema.string)), ("email", Schema.nullable(Schema.string)),
            ("disabled", Schema.boolean), ("created_at", Schema.dateTime), ("updated_at", Schema.dateTime),
            ("last_login_at", Schema.nullable(Schema.dateTime)),
        ],
        required: ["id", "username", "role", "display_name", "email", "disabled", "created_at", "updated_at", "last_login_at"]
    )

    static let apiKey = Schema.object(
        [
            ("id", Schema.string), ("name", Schema.string), ("prefix", Schema.string), ("owner_id", Schema.string),
            ("created_at", Schema.dateTime), ("expires_at", Schema.nullable(Schema.dateTime)),
            ("last_used_at", Schema.nullable(Schema.dateTime)), ("revoked_at", Schema.nullable(Schema.dateTime)),
            ("key", Schema.string(description: "The whole key; shown only once, when it is created")),
        ],
        required: ["id", "name", "prefix", "owner_id", "created_at", "expires_at", "last_used_at", "revoked_at"]
    )

    /// null or "" clears; otherwise an address.
    static let email = Schema.nullable([
        "type": "string", "maxLength": 254, "pattern": .string(UserInput.emailPattern + "|^$"),
    ])

    static let login = Schema.object(
        [
            ("username", Schema.string(minLength: 1, maxLength: AccountsBounds.loginUsername)),
            ("password", Schema.string(minLength: 1, maxLength: AccountsBounds.loginPassword)),
        ],
        required: ["username", "password"]
    )

    static let token = Schema.object(
        [
            ("access_token", Schema.string), ("token_type", Schema.string(enum: ["Bearer"])),
            ("expires_in", Schema.integer),
        ],
        required: ["access_token", "token_type", "expires_in"]
    )

    static let status = Schema.object(
        [
            ("authenticated", Schema.boolean), ("auth_enabled", Schema.boolean),
            ("user", Schema.nullable(Schema.ref("User"))),
        ],
        required: ["authenticated", "auth_enabled", "user"]
    )

    static let profileUpdate = Schema.object([
        ("display_name", Schema.nullable(Schema.string(maxLength: 100))),
        ("email", email),
    ])

    static let changePassword = Schema.object(
        [
            ("current_password", Schema.string(minLength: 1, maxLength: AccountsBounds.loginPassword)),
            ("new_password", Schema.string(minLength: UserInput.minPasswordLength, maxLength: UserInput.maxPasswordLength)),
        ],
        required: ["current_password", "new_password"]
    )

    static let statusMessage = Schema.object(
        [("status", Schema.string), ("message", Schema.string)],
        required: ["status", "message"]
    )

    static let createUser = Schema.object(
        [
            ("username", ["type": "string", "minLength": 3, "maxLength": 64, "pattern": .string(UserInput.usernamePattern)]),
            ("password", Schema.string(minLength: UserInput.minPasswordLength, maxLength: UserInput.maxPasswordLength)),
            ("role", Schema.string(enum: Role.allCases.map(\.rawValue))),
            ("display_name", Schema.nullable(Schema.string(maxLength: 100))),
            ("email", email),
        ],
        required: ["username", "password"]
    )

    static let updateUser = Schema.object([
        ("role", Schema.string(enum: Role.allCases.map(\.rawValue))),
        ("display_name", Schema.nullable(Schema.string(maxLength: 100))),
        ("email", email),
        ("disabled", Schema.boolean),
        ("password", Schema.string(minLength: UserInput.minPasswordLength, maxLength: UserInput.maxPasswordLength)),
    ])

    static let createKey = Schema.object(
        [
            ("name", Schema.string(minLength: 1, maxLength: AccountsBounds.keyName)),
            ("expires_in_days", Schema.nullable(Schema.integer(minimum: 1, maximum: 3650))),
        ],
        required: ["name"]
    )
}
