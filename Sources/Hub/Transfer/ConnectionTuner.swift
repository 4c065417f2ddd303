/// Chooses how many connections a download uses when the user did not. A CDN that caps each
/// connection wants many (each one adds its cap); an uncapped one on a busy CPU wants few (each
/// one adds overhead and nothing else). So it starts with `start`, measures, doubles while doubling
/// made the download at least `gain` faster, and goes back to the last count that did when it
/// did not. (A doubling on a per-connection cap gives about 2×; on a busy CPU about 1×: 1.3 keeps
/// measurement noise from adding connections that do not pay.) Fed from the download's ticker; pure, so tests drive it with made-up figures.
struct ConnectionTuner {
    enum Phase: Equatable {
        /// Connections just changed: wait for them to get going before measuring.
        case settling(until: Double)
        case measuring(since: Double, bytes: Int64)
        case settled
    }

    private(set) var target: Int
    private(set) var phase: Phase
    let maximum: Int
    let settle: Double
    let window: Double
    let gain: Double
    /// Speed measured at the count before the last doubling.
    private var previous: (connections: Int, rate: Double)?
    /// Every measurement, for the debug log.
    private(set) var rates: [(connections: Int, rate: Double)] = []

    /// `fixed`: the user's choice, kept as it is.
    init(fixed: Int?, start: Int = 8, maximum: Int = 32, settle: Double = 0.1, window: Double = 0.2, gain: Double = 1.3) {
        self.maximum = max(1, fixed ?? maximum)
        self.target = min(self.maximum, fixed ?? start)
        self.phase = fixed == nil ? .settling(until: settle) : .settled
        self.settle = settle
        self.window = window
        self.gain = gain
    }

    /// `now`: seconds since the download started; `bytes`: received so far in this run.
    mutating func observe(now: Double, bytes: Int64) {
        switch phase {
        case .settled:
            return
        case .settling(let until):
            if now >= until { phase = .measuring(since: now, bytes: bytes) }
        case .measuring(let since, let start):
            guard now - since >= window else { return }
            let rate = Double(bytes - start) / (now - since)
            rates.append((target, rate))
            if let previous, rate < previous.rate * gain {
                // Doubling did not pay: back to the count before it.
                target = previous.connections
                phase = .settled
                return
            }
            guard target < maximum else {
                phase = .settled
                return
            }
            previous = (target, rate)
            target = min(maximum, target * 2)
            phase = .settling(until: now + settle)
        }
    }
}
