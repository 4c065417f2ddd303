/// Every setting Atelier reads: its environment name (also the `.env` name), aliases the seeds
/// use, the command-line flag where one exists, the default and what it means. The README's
/// configuration table and `atelier config` are generated from this list.
package struct Setting: Sendable {
    package var env: String
    package var aliases: [String]
    package var flag: String?
    package var defaultValue: String
    package var meaning: String
    package var secret: Bool
    /// The commands that take `flag`; empty means every command that reads the configuration.
    package var commands: [String]

    init(
        _ env: String,
        aliases: [String] = [],
        flag: String? = nil,
        on commands: [String] = [],
        default defaultValue: String = "",
        secret: Bool = false,
        _ meaning: String
    ) {
        self.env = env
        self.aliases = aliases
        self.flag = flag
        self.commands = commands
        self.defaultValue = defaultValue
        self.meaning = meaning
        self.secret = secret
    }

    /// swift-configuration key: `ATELIER_PORT` → `atelier.port` (its environment provider maps back).
    var key: String { env.lowercased().replacingOccurrences(of: "_", with: ".") }

    package static let host = Setting("ATELIER_HOST", flag: "--host", on: ["serve"], default: "127.0.0.1", "Address to listen on")
    package static let port = Setting("ATELIER_PORT", flag: "--port", on: ["serve"], default: "8000", "Port to listen on")
    package static let dataDir = Setting(
        "ATELIER_DATA_DIR",
        flag: "--data-dir",
        default: "./atelier-data",
        "Folder for the SQLite database, models, images and partial downloads"
    )
    package static let databaseURL = Setting(
        "DATABASE_URL",
        flag: "--database-url",
        secret: true,
        "postgres://user:pass@host:5432/db for PostgreSQL; unset = SQLite in the data dir"
    )
    package static let databaseSchema = Setting(
        "ATELIER_DATABASE_SCHEMA",
        "PostgreSQL schema to use (created if missing); unset = the server's default"
    )
    package static let databasePoolSize = Setting(
        "ATELIER_DATABASE_POOL_SIZE",
        default: "4",
        "Database connections per event loop (one event loop per CPU core)"
    )
    package static let adminUsername = Setting(
        "ATELIER_ADMIN_USERNAME",
        default: "admin",
        "Bootstrap admin created on first start when there are no users"
    )
    package static let adminPassword = Setting(
        "ATELIER_ADMIN_PASSWORD",
        secret: true,
        "Bootstrap admin's password; unset = generated and printed once"
    )
    package static let jwtSecret = Setting(
        "ATELIER_JWT_SECRET",
        aliases: ["SECRET_KEY"],
        secret: true,
        "Access-token signing key (32+ characters); unset = generated once and kept in the database"
    )
    package static let tokenMinutes = Setting("ATELIER_TOKEN_MINUTES", default: "1440", "Access-token lifetime in minutes")
    package static let bcryptCost = Setting("ATELIER_BCRYPT_COST", default: "12", "bcrypt cost for password hashes (4–16)")
    package static let maxBodyBytes = Setting("ATELIER_MAX_BODY_BYTES", default: "10485760", "Largest request body accepted (bytes)")
    package static let loginMaxFailures = Setting(
        "ATELIER_LOGIN_MAX_FAILURES",
        default: "5",
        "Failed logins per username and address within 15 minutes before 429"
    )
    package static let loginMaxFailuresPerAddress = Setting(
        "ATELIER_LOGIN_MAX_FAILURES_PER_ADDRESS",
        default: "50",
        "Failed logins from one client address (any username) within 15 minutes before that address gets 429 for every account; 0 = no per-address limit"
    )
    package static let trustedProxies = Setting(
        "ATELIER_TRUSTED_PROXIES",
        default: "127.0.0.1,::1",
        "Reverse proxies whose X-Forwarded-For/-Proto/-Host and Forwarded headers are believed: addresses and CIDRs separated by commas, * for any, none for no one"
    )
    package static let headerTimeout = Setting(
        "ATELIER_HEADER_TIMEOUT_SECONDS",
        default: "15",
        "A client that has started a request must send all its headers within this many seconds"
    )
    package static let idleTimeout = Setting(
        "ATELIER_IDLE_TIMEOUT_SECONDS",
        default: "60",
        "An idle keep-alive connection (or one that sends nothing after connecting) is closed after this many seconds"
    )
    package static let maxConnectionsPerAddress = Setting(
        "ATELIER_MAX_CONNECTIONS_PER_ADDRESS",
        default: "512",
        "Open connections one peer address may hold; more are closed at once. Behind a reverse proxy every client shares its address: raise this to what the proxy may open; 0 = no cap"
    )
    package static let civitaiToken = Setting(
        "CIVITAI_API_TOKEN",
        secret: true,
        "Civitai API key for models that need a login (civitai.com → Account → API Keys)"
    )
    package static let huggingFaceToken = Setting(
        "HF_TOKEN",
        aliases: ["HUGGINGFACE_TOKEN"],
        secret: true,
        "Hugging Face token for private and gated repositories"
    )
    package static let civitaiURL = Setting("ATELIER_CIVITAI_URL", default: "https://civitai.com", "Civitai base URL (mirrors, tests)")
    package static let huggingFaceEndpoint = Setting("HF_ENDPOINT", default: "https://huggingface.co", "Hugging Face base URL (mirrors, tests)")
    package static let allowPrivateHosts = Setting(
        "ATELIER_ALLOW_PRIVATE_HOSTS",
        default: "false",
        "Allow connecting to loopback, private and reserved addresses: LAN mirrors, and GPU workers or fleet nodes on the local network"
    )
    package static let modelsLayout = Setting(
        "ATELIER_MODELS_LAYOUT",
        flag: "--layout",
        on: ["serve", "pull"],
        default: "atelier",
        "Where pulled models go: atelier, a1111, comfyui (under the data dir's models/), or the folder of an A1111/Forge or ComfyUI install"
    )
    package static let pullConnections = Setting(
        "ATELIER_PULL_CONNECTIONS",
        flag: "--connections",
        on: ["serve", "pull"],
        default: "auto",
        "Parallel connections per downloaded file, 1 to 64, or auto: start with 8 and double while that makes the download faster (up to 32)"
    )
    package static let pullRateLimit = Setting(
        "ATELIER_PULL_MAX_RATE",
        flag: "--max-rate",
        on: ["serve", "pull"],
        "Cap on download bandwidth for the whole process, e.g. 50M or 500K (bytes per second); unset = none"
    )
    package static let authRequired = Setting(
        "ATELIER_AUTH_REQUIRED",
        default: "false",
        "Seed 001's switch: generation routes need credentials (else guests are counted by address)"
    )
    package static let generationsPerHour = Setting(
        "ATELIER_GENERATIONS_PER_HOUR",
        default: "10",
        "Generations per user (or per guest address) per hour; 0 = no limit"
    )
    package static let mockDelay = Setting("ATELIER_MOCK_DELAY_MS", default: "0", "How long the mock backend takes per image (ms)")
    package static let jobLeaseSeconds = Setting(
        "ATELIER_JOB_LEASE_SECONDS",
        default: "30",
        "How long a job stays claimed without a heartbeat before another worker may run it"
    )
    package static let retryBaseMillis = Setting(
        "ATELIER_JOB_RETRY_BASE_MS",
        default: "1000",
        "First retry delay of a failed generation attempt (doubles each time, at most 60 s)"
    )
    package static let publicImages = Setting(
        "ATELIER_IMAGES_PUBLIC",
        default: "true",
        "Serve /images/HASH.png to anyone with the hash; false = signed, expiring URLs (or the owner's credentials)"
    )
    package static let imageLinkSeconds = Setting(
        "ATELIER_IMAGE_URL_TTL_SECONDS",
        default: "604800",
        "How long signed image URLs in API answers stay valid when images are not public"
    )
    package static let maxWaitSeconds = Setting(
        "ATELIER_SCHEDULER_MAX_WAIT_SECONDS",
        default: "120",
        "A job waiting longer than this runs next on any worker, even if that swaps its checkpoint"
    )
    package static let runPodAPIKey = Setting(
        "RUNPOD_API_KEY",
        secret: true,
        "RunPod API key for runpod workers that have no token of their own"
    )
    package static let replicateToken = Setting(
        "REPLICATE_API_TOKEN",
        secret: true,
        "Replicate API token for replicate workers that have no token of their own"
    )
    package static let publicURL = Setting(
        "ATELIER_PUBLIC_URL",
        "The address this server is reached at from outside, e.g. https://atelier.example.com; with it Replicate calls back when a prediction completes instead of being polled"
    )
    package static let role = Setting(
        "ATELIER_ROLE",
        flag: "--role",
        on: ["serve"],
        default: "controller",
        "controller (everything) or node (a GPU machine: downloads, seed-000 API, health)"
    )
    package static let maxDownloads = Setting(
        "ATELIER_MAX_DOWNLOADS",
        default: "2",
        "API downloads run at once by this process (more wait in the queue)"
    )
    package static let webhookURL = Setting(
        "ATELIER_WEBHOOK_URL",
        "Where to POST signed events (download finished, …); unset = no webhooks"
    )
    package static let webhookSecret = Setting(
        "ATELIER_WEBHOOK_SECRET",
        secret: true,
        "HMAC-SHA256 key for the X-Atelier-Signature header of webhooks"
    )
    package static let corsOrigins = Setting(
        "ATELIER_CORS_ORIGINS",
        "Origins a browser front-end may call the API from, comma-separated (https://app.example.com); unset = none"
    )
    package static let telegramAPIURL = Setting(
        "ATELIER_TELEGRAM_API_URL",
        default: "https://api.telegram.org",
        "Telegram Bot API base URL (a local Bot API server, tests)"
    )
    package static let bots = Setting(
        "ATELIER_BOTS",
        flag: "--bots",
        on: ["serve"],
        default: "true",
        "Whether this process runs Telegram bots (false: an API-only process; another one runs the bots)"
    )
    package static let botLeaseSeconds = Setting(
        "ATELIER_BOT_LEASE_SECONDS",
        default: "15",
        "How long a process holds a running bot without renewing before another process takes it over"
    )
    package static let telegramMessagesPerSecond = Setting(
        "ATELIER_TELEGRAM_MESSAGES_PER_SECOND",
        default: "30",
        "Messages a bot sends per second overall (Telegram allows about 30; raise it only for a local Bot API server without limits)"
    )
    package static let studioWelcomeTokens = Setting(
        "ATELIER_STUDIO_WELCOME_TOKENS",
        default: "3",
        "Tokens a new person of the photo studio bot gets on /start"
    )
    package static let studioImageCost = Setting("ATELIER_STUDIO_IMAGE_COST", default: "1", "Tokens one photo of the studio bot costs")
    package static let studioTrainingCost = Setting(
        "ATELIER_STUDIO_TRAINING_COST",
        default: "50",
        "Tokens a LoRA training (/train) of the studio bot costs"
    )
    package static let studioTrainer = Setting(
        "ATELIER_STUDIO_TRAINER",
        "Replicate trainer of the studio's /train as owner/name:version (e.g. ostris/flux-dev-lora-trainer:<version id>); unset = no training"
    )
    package static let studioTrainingDestination = Setting(
        "ATELIER_STUDIO_TRAINING_DESTINATION",
        "owner/name of the Replicate model (yours, created beforehand) that trained versions go to"
    )
    package static let replicateURL = Setting(
        "ATELIER_REPLICATE_URL",
        default: "https://api.replicate.com/v1",
        "Replicate API base URL for trainings (a proxy, tests)"
    )
    package static let referralPercent = Setting(
        "ATELIER_REFERRAL_PERCENT",
        default: "10",
        "Per cent of each purchase's tokens given to the person who invited the buyer (0 = no referral bonus)"
    )
    package static let yooMoneyWallet = Setting(
        "ATELIER_YOOMONEY_WALLET",
        "YooMoney wallet number for the studio's payment links; unset = Telegram Stars only"
    )
    package static let yooMoneySecret = Setting(
        "ATELIER_YOOMONEY_SECRET",
        secret: true,
        "The notification secret of the YooMoney wallet: POST /webhooks/yoomoney checks sha1_hash with it"
    )
    package static let githubWebhookSecret = Setting(
        "ATELIER_GITHUB_WEBHOOK_SECRET",
        secret: true,
        "The secret of the GitHub webhook: POST /webhooks/github checks X-Hub-Signature-256 with it; unset = the route answers 503"
    )
    package static let amoCRMWebhookSecret = Setting(
        "ATELIER_AMOCRM_WEBHOOK_SECRET",
        secret: true,
        "A token you put in amoCRM's webhook URL (/webhooks/amocrm?token=…): amoCRM does not sign its webhooks; unset = the route answers 503"
    )
    package static let assistantContextTokens = Setting(
        "ATELIER_ASSISTANT_CONTEXT_TOKENS",
        default: "8192",
        "The models' context, in tokens, for providers without their own `context_tokens`: conversations (/chat, the assistant bot, the widget) are trimmed to fit it"
    )
    package static let ttsURL = Setting(
        "ATELIER_TTS_URL",
        "An OpenAI-compatible speech server (base URL ending in /v1) for text to speech instead of the embedded espeak-ng"
    )
    package static let sttURL = Setting(
        "ATELIER_STT_URL",
        "An OpenAI-compatible transcription server (base URL ending in /v1) instead of the embedded pocketsphinx (the way to Russian STT)"
    )
    package static let speechAPIKey = Setting(
        "ATELIER_SPEECH_API_KEY",
        secret: true,
        "The API key sent to ATELIER_TTS_URL and ATELIER_STT_URL"
    )
    package static let logLevel = Setting(
        "ATELIER_LOG_LEVEL",
        flag: "--log-level",
        default: "info",
        "trace, debug, info, notice, warning, error or critical"
    )

    package static let all: [Setting] = [
        host, port, dataDir, databaseURL, databaseSchema, databasePoolSize, adminUsername, adminPassword, jwtSecret,
        tokenMinutes, bcryptCost, maxBodyBytes, loginMaxFailures, loginMaxFailuresPerAddress, trustedProxies, headerTimeout,
        idleTimeout, maxConnectionsPerAddress, civitaiToken, huggingFaceToken, civitaiURL,
        huggingFaceEndpoint, allowPrivateHosts, modelsLayout, pullConnections, pullRateLimit, authRequired, generationsPerHour, mockDelay,
        jobLeaseSeconds, retryBaseMillis, maxWaitSeconds, publicImages, imageLinkSeconds,
        runPodAPIKey, replicateToken, publicURL, role, maxDownloads, webhookURL, webhookSecret, corsOrigins, telegramAPIURL, bots, botLeaseSeconds,
        telegramMessagesPerSecond, studioWelcomeTokens, studioImageCost, studioTrainingCost, studioTrainer, studioTrainingDestination, replicateURL,
        referralPercent, yooMoneyWallet, yooMoneySecret, githubWebhookSecret, amoCRMWebhookSecret, assistantContextTokens, ttsURL, sttURL,
        speechAPIKey, logLevel,
    ]
}
