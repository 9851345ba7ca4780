// swift-tools-version:6.0
//
// Vigil: an edge agent for camera appliances. See README.md and docs/ for the architecture.
//
// C is confined to the system-library shim targets (CV4L2, CTurboJPEG, CPNG, CWebP, CGPIOD) and the
// int8 kernel library CKernels; only the modules right above them (Capture, Imaging,
// FastKernels, LEDs) import C. Everything else is Swift.
import PackageDescription

let package = Package(
    name: "Vigil",
    products: [
        .executable(name: "vigil", targets: ["vigil"]),
        .executable(name: "vigil-vmtest", targets: ["vigil-vmtest"]),
        .library(name: "VigilCore", targets: ["VigilCore"]),
        .library(name: "Capture", targets: ["Capture"]),
        .library(name: "Imaging", targets: ["Imaging"]),
        .library(name: "VigilTestSupport", targets: ["VigilTestSupport"]),
        .library(name: "Inference", targets: ["Inference"]),
        .library(name: "Watchlist", targets: ["Watchlist"]),
        // A C-ABI shared library so benchmarks can call Vigil's code from the same process as the
        // Python peer (alternating runs, one process): see bench/.
        .library(name: "VigilBench", type: .dynamic, targets: ["VigilBench"]),
        // libFuzzer harnesses for every parser of outside bytes (Tests/fuzz/run.sh).
        .executable(name: "VigilFuzz", targets: ["VigilFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Ed25519 signatures, X25519/HPKE sealing, ChaCha20-Poly1305 storage encryption, SHA-256.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        // HTTPS watchlist sync (pinned CA, client certificate, Range resume). Its NIO stack is
        // confined to the WatchlistSync module.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        // The agent's services: graceful shutdown on SIGTERM, one task group (issue 8).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        // Provisioning: the device's TLS key and its certificate signing request (PKCS#10).
        .package(url: "https://github.com/apple/swift-certificates", from: "1.0.0"),
        // The review station's embedded database (issue 17): SQLite through GRDB, one file, with
        // versioned migrations; Debian's libsqlite3. Only the Station module links it.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // MARK: C shims (system libraries from Debian; no vendored C code)
        .systemLibrary(
            name: "CV4L2", pkgConfig: "libv4l2",
            providers: [.apt(["libv4l-dev"])]),
        .systemLibrary(
            name: "CTurboJPEG", pkgConfig: "libturbojpeg",
            providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(
            name: "CGPIOD", pkgConfig: "libgpiod",
            providers: [.apt(["libgpiod-dev"])]),
        // Still images for the offline commands (detect, embed, compare, evaluate, enrollment,
        // search): PNG through libpng's simplified API, WebP through libwebp (issue 15). The
        // camera path stays MJPEG / YUYV.
        .systemLibrary(
            name: "CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]),
        .systemLibrary(
            name: "CWebP", pkgConfig: "libwebp",
            providers: [.apt(["libwebp-dev"])]),
        // <sys/timex.h> for the clock's NTP status (libc only).
        .systemLibrary(name: "CClock"),

        // MARK: libraries
        .target(name: "VigilCore"),
        .target(name: "Capture", dependencies: ["VigilCore", "CV4L2"]),
        .target(name: "Imaging", dependencies: ["VigilCore", "CTurboJPEG", "CPNG", "CWebP"]),
        // Face detection decoding, letterboxing, tiling, quality gate, alignment, embeddings.
        .target(name: "Faces", dependencies: ["VigilCore", "Imaging", "Inference", "FastKernels"]),
        // The frame path above capture and imaging: capture runs, frame saving, the demo job
        // (later: detection, matching).
        .target(name: "Pipeline", dependencies: ["VigilCore", "Capture", "Imaging"]),
        .target(name: "VigilTestSupport", dependencies: ["VigilCore", "Capture", "Imaging", "Faces", "CV4L2"]),
        .target(name: "VigilBench", dependencies: ["Imaging", "Inference", "FastKernels", "Faces", "Pipeline", "Watchlist"]),
        .target(name: "Inference", dependencies: ["VigilCore"]),
        // Fast int8 kernels (issue 4): C with per-function target attributes and run-time CPU
        // checks (no unsafeFlags), behind Inference's backend seam.
        .target(name: "CKernels", linkerSettings: [.linkedLibrary("m")]),
        .target(name: "FastKernels", dependencies: ["Inference", "CKernels"]),
        // Signed watchlist bundles (issue 5): format, keys, verification, encrypted storage with
        // anti-rollback, and the int8 index whose search kernels live in CKernels.
        .target(name: "Watchlist", dependencies: [
            "VigilCore", "CKernels", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Device side: fetch the signed manifest and the bundle over HTTPS (resume, retries,
        // bandwidth cap) into staging, then hand it to WatchlistStore.install.
        // The config files and pinned-CA TLS set-up shared by the two HTTPS clients below.
        .target(name: "PinnedTLS", dependencies: ["VigilCore", .product(name: "NIOSSL", package: "swift-nio-ssl")]),
        .target(name: "WatchlistSync", dependencies: [
            "VigilCore", "Watchlist", "PinnedTLS",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // Hit records (issue 6): HPKE-sealed to the agency, signed by the device, kept in a durable
        // outbox until the server acknowledged them. No NIO here (the uploader is HitUpload).
        .target(name: "Hits", dependencies: [
            "VigilCore", "Watchlist", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Hit upload (issue 6): the outbox's sealed records PUT over HTTPS (pinned CA, client
        // certificate), deleted only once acknowledged. Keeps NIO out of Hits.
        .target(name: "HitUpload", dependencies: [
            "VigilCore", "Hits", "PinnedTLS",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // MARK: field hardware (issue 7)
        // The device's TOML configuration: our own small TOML reader (every error names file, line
        // and key), the schema, board profiles, atomic versioned saves.
        .target(name: "Config", dependencies: ["VigilCore"]),
        // Append-only, hash-chained audit log (JSON lines), rotation with the chain carried over.
        .target(name: "Audit", dependencies: ["VigilCore", .product(name: "Crypto", package: "swift-crypto")]),
        // Status LEDs: the pattern engine, health → pattern mapping, libgpiod v1.6 driver.
        .target(name: "LEDs", dependencies: ["VigilCore", "CGPIOD"]),
        // The technicians' serial console: termios, line editor, PIN login (scrypt), commands.
        .target(name: "Console", dependencies: [
            "VigilCore", "Config", "Audit",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),

        // MARK: the agent (issue 8)
        // `vigil run`: capture → detect → embed → match → track → seal → outbox → upload, with sync,
        // LEDs, console and audit, as services under swift-service-lifecycle.
        .target(name: "Agent", dependencies: [
            "VigilCore", "Capture", "Imaging", "Faces", "Inference", "FastKernels", "Watchlist", "WatchlistSync",
            "Hits", "HitUpload", "Config", "Audit", "LEDs", "Console", "CGPIOD", "CClock",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Device provisioning: TLS client key + CSR for the agency's CA, certificate install.
        .target(name: "Provisioning", dependencies: [
            "VigilCore", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
        ]),

        // Agency side: photos → detector + embedder → a signed bundle, in parallel, streamed.
        .target(name: "Enrollment", dependencies: ["VigilCore", "Imaging", "Faces", "Pipeline", "Watchlist"]),

        // `vigil evaluate` (issue 15): the LFW verification protocol, per-group identification with
        // per-entry calibration; pure protocol code tested on made-up scores.
        .target(name: "Evaluation", dependencies: ["VigilCore", "Imaging", "Faces", "Pipeline", "Watchlist", "Enrollment"]),

        // MARK: executables
        .executableTarget(
            name: "vigil",
            dependencies: [
                "VigilCore", "Capture", "Imaging", "Pipeline", "Faces", "Inference", "FastKernels",
                "Watchlist", "Enrollment", "WatchlistSync", "Hits", "HitUpload",
                "Config", "Audit", "LEDs", "Console", "CGPIOD", "Agent", "Provisioning", "Evaluation",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Kernel-level test runner: runs inside the qemu VM against real drivers (vivid,
        // v4l2loopback); see Tests/vm/. Prints PASS/FAIL lines.
        .executableTarget(
            name: "vigil-vmtest",
            dependencies: ["VigilCore", "Capture", "Imaging", "Pipeline"]),

        // Fuzzing (Tests/fuzz/): one executable, the harness picked by $VIGIL_FUZZ_TARGET. Built with
        // -sanitize=fuzzer -DVIGIL_FUZZ by Tests/fuzz/run.sh; a normal build replays files.
        .executableTarget(
            name: "VigilFuzz",
            dependencies: [
                "VigilCore", "Imaging", "Inference", "Watchlist", "Hits", "Config", "Console", "Audit", "Faces",
                // the hand-written landmark-model seeds (DlibShapePredictorWriter)
                "VigilTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
            ]),

        // The agency's review station (issue 17): the two-person rule, ingest, storage. Pure
        // Swift at its core, so the rule is tested without a server.
        .target(name: "Station", dependencies: [
            "VigilCore", "Hits", "Watchlist", "Audit",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),

        // MARK: tests
        .testTarget(name: "StationTests", dependencies: ["Station", "Hits", "Watchlist", "VigilCore", "Audit", "VigilTestSupport",
                                                        .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "VigilCoreTests", dependencies: ["VigilCore", "VigilTestSupport"]),
        .testTarget(name: "CaptureTests", dependencies: ["Capture", "VigilTestSupport", "Imaging"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "VigilTestSupport"]),
        .testTarget(name: "FacesTests", dependencies: ["Faces", "VigilTestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "VigilTestSupport"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "FastKernels", "Faces", "VigilTestSupport"]),
        // Whole-pipeline accuracy on real photos with the generated models (make models).
        .testTarget(name: "WatchlistTests", dependencies: ["Watchlist", "Enrollment", "Faces", "Pipeline", "VigilTestSupport"]),
        .testTarget(name: "HitsTests", dependencies: ["Hits", "Watchlist", "VigilTestSupport"]),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "VigilTestSupport"]),
        .testTarget(name: "AuditTests", dependencies: ["Audit", "VigilTestSupport"]),
        .testTarget(name: "LEDsTests", dependencies: ["LEDs", "VigilTestSupport"]),
        .testTarget(name: "ConsoleTests", dependencies: ["Console", "Config", "Audit", "VigilTestSupport"]),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "VigilTestSupport"]),
        .testTarget(name: "ProvisioningTests", dependencies: [
            "Provisioning", "PinnedTLS", "VigilTestSupport", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
        ]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Watchlist", "Enrollment", "VigilTestSupport"]),
        .testTarget(name: "AccuracyTests", dependencies: ["Faces", "Pipeline", "Inference", "FastKernels", "VigilTestSupport"]),
    ]
)
