import Core
import Foundation
import SQLKit

/// The studio's business figures, for /admin_stats and `GET /admin/studio/stats`.
package struct StudioStats: Sendable, Codable, Equatable {
    package struct Generations: Sendable, Codable, Equatable {
        package var total: Int
        package var succeeded: Int
        package var failed: Int
        package var today: Int
    }

    package struct Revenue: Sendable, Codable, Equatable {
        /// UTC day, `yyyy-MM-dd`.
        package var day: String
        /// `XTR` (stars) or `RUB` (kopecks in `amount`).
        package var currency: String
        package var amount: Int64
        package var payments: Int
    }

    package var users: Int
    package var active_users_day: Int
    package var active_users_week: Int
    package var generations: Generations
    package var revenue: [Revenue]
}

extension StudioBot {
    /// People, active people (by their last message), images and the revenue of the last `days`
    /// days per day and currency (refunded payments left out).
    package func stats(days: Int) async throws -> StudioStats {
        let sql = database.sql
        let now = Timestamp.millis(Date())
        let day: Int64 = 86_400_000
        func count(_ query: SQLQueryString) async throws -> Int {
            try await sql.raw(query).first()?.decode(column: "n", as: Int.self) ?? 0
        }
        var revenue: [StudioStats.Revenue] = []
        for row in try await sql.raw(
            """
            SELECT date / 86400000 AS day, currency, SUM(amount) AS total, COUNT(*) AS n FROM "Payment"
            WHERE status = 'paid' AND date >= \(bind: now - Int64(max(1, days)) * day) GROUP BY date / 86400000, currency ORDER BY day DESC, currency
            """
        ).all() {
            revenue.append(
                StudioStats.Revenue(
                    day: Self.day(try row.decode(column: "day", as: Int64.self) * day),
                    currency: try row.decode(column: "currency", as: String.self),
                    amount: try row.decode(column: "total", as: Int64.self),
                    payments: try row.decode(column: "n", as: Int.self)
                )
            )
        }
        return StudioStats(
            users: try await count("SELECT COUNT(*) AS n FROM \"User\""),
            active_users_day: try await count("SELECT COUNT(*) AS n FROM \"User\" WHERE last_active_at >= \(bind: now - day)"),
            active_users_week: try await count("SELECT COUNT(*) AS n FROM \"User\" WHERE last_active_at >= \(bind: now - 7 * day)"),
            generations: StudioStats.Generations(
                total: try await count("SELECT COUNT(*) AS n FROM \"Generation\""),
                succeeded: try await count("SELECT COUNT(*) AS n FROM \"Generation\" WHERE status = 'success'"),
                failed: try await count("SELECT COUNT(*) AS n FROM \"Generation\" WHERE status = 'failed'"),
                today: try await count("SELECT COUNT(*) AS n FROM \"Generation\" WHERE status = 'success' AND created_at >= \(bind: now - day)")
            ),
            revenue: revenue
        )
    }
}
