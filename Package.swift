// swift-tools-version:6.0
// AdPilot: CTR training from PostgreSQL logs, budget allocation and pacing, SQL-side scoring.
// The package depends on the toolchain and Debian's libpq only.

import Foundation
import PackageDescription

// Swift's default x86-64 target has no AVX or FMA, which turns SIMD multiply-adds into per-lane
// library calls. The package builds for x86-64-v4 (AVX-512) when the building machine has it and
// for x86-64-v3 (AVX2 + FMA) otherwise. ADPILOT_CPU_LEVEL=x86-64-v3 builds for any AVX2 machine.
// With AVX-512 (ADPILOT_AVX512) the kernels add column blocks of 32 to 48 columns.
let cpuLevel: String = {
  if let level = ProcessInfo.processInfo.environment["ADPILOT_CPU_LEVEL"], !level.isEmpty {
    guard ["x86-64-v3", "x86-64-v4"].contains(level) else {
      let message = "invalid ADPILOT_CPU_LEVEL '\(level)': set x86-64-v3 or x86-64-v4, or unset it"
      FileHandle.standardError.write(Data("error: \(message)\n".utf8))
      exit(1)
    }
    return level
  }
  let avx512: Set<Substring> = ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]
  guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
    let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
  else { return "x86-64-v3" }
  return avx512.isSubset(of: Set(line.split(separator: " "))) ? "x86-64-v4" : "x86-64-v3"
}()

let cpuFlags: [SwiftSetting] =
  [.unsafeFlags(["-Xcc", "-march=\(cpuLevel)"], .when(platforms: [.linux]))]
  + (cpuLevel == "x86-64-v4" ? [.define("ADPILOT_AVX512", .when(platforms: [.linux]))] : [])

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
      dependencies: ["Postgres", "CLibPQ", "TestSupport"],
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
