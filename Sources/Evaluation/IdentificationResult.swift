// PENDING: replaced by Identification.swift when the v2 bundle API lands.
public struct GroupResult: Sendable, Equatable {
    public var group: String
    public var probes: Int, falselyIdentified: Int
    public var pairs: Int, pairFalseMatches: Int
    public var fpir: Double { probes == 0 ? 0 : Double(falselyIdentified) / Double(probes) }
    public var pairFMR: Double { pairs == 0 ? 0 : Double(pairFalseMatches) / Double(pairs) }
}
public struct IdentificationResult: Sendable {
    public var listSize: Int
    public var splits: Int
    public var global: [GroupResult]
    public var globalThreshold: Float
    public var calibrated: [GroupResult]
    public var targetFalseMatchRate: Double
    public var comparisons: Int, comparisonFalseMatches: Int
    public var thresholds: [Float]
}
