// swift-tools-version:6.0
// AdPilot: CTR training from PostgreSQL logs, budget allocation and pacing, SQL-side scoring.
// The package depends on the toolchain and Debian's libpq only.

import PackageDescription

// Swift's default x86-64 target has no AVX or FMA, which turns SIMD multiply-adds into per-lane
// library calls. x86-64-v3 (AVX2 + FMA) is the portable level this package assumes on x86-64.
let cpuFlags: [SwiftSetting] = [
  .unsafeFlags(["-Xcc", "-march=x86-64-v3"], .when(platforms: [.linux]))
]

// The numerical kernels drop bounds checks in release builds. Debug builds still optimize them
// (keeping bounds checks), so tests that train models run in seconds rather than minutes.
let kernelFlags: [SwiftSetting] =
  cpuFlags + [
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
    .unsafeFlags(["-O"], .when(configuration: .debug)),
  ]

let package = Package(
  name: "AdPilot",
  platforms: [.macOS(.v14)],
  products: [
    .executable(name: "adpilot", targets: ["adpilot"]),
    .library(name: "CTR", targets: ["CTR"]),
    .library(name: "Allocation", targets: ["Allocation"]),
    // The Swift half of the PostgreSQL extension, linked into extension/adpilot.so by the
    // Makefile's `extension` target.
    .library(name: "CTRScoring", type: .static, targets: ["CTRScoring"]),
  ],
  targets: [
    .systemLibrary(
      name: "CLibPQ",
      pkgConfig: "libpq",
      providers: [.apt(["libpq-dev"])]
    ),
    .target(name: "Postgres", dependencies: ["CLibPQ"], swiftSettings: cpuFlags),
    .target(name: "CTR", swiftSettings: kernelFlags),
    .target(name: "Allocation", swiftSettings: cpuFlags),
    .target(name: "CTRScoring", dependencies: ["CTR"], swiftSettings: cpuFlags),
    .target(
      name: "AdPilot",
      dependencies: ["Postgres", "CTR", "Allocation"],
      swiftSettings: cpuFlags
    ),
    .executableTarget(name: "adpilot", dependencies: ["AdPilot"], swiftSettings: cpuFlags),
    .target(
      name: "TestSupport",
      dependencies: ["Postgres", "AdPilot"],
      path: "Tests/TestSupport",
      swiftSettings: cpuFlags
    ),
    .testTarget(
      name: "PostgresTests",
      dependencies: ["Postgres", "TestSupport"],
      swiftSettings: cpuFlags
    ),
    .testTarget(name: "CTRTests", dependencies: ["CTR"], swiftSettings: cpuFlags),
    .testTarget(
      name: "CTRScoringTests", dependencies: ["CTRScoring", "CTR"], swiftSettings: cpuFlags),
    .testTarget(name: "AllocationTests", dependencies: ["Allocation"], swiftSettings: cpuFlags),
    .testTarget(
      name: "AdPilotTests",
      dependencies: ["AdPilot", "TestSupport", "adpilot"],
      exclude: ["Fixtures"],
      swiftSettings: cpuFlags
    ),
  ]
)
