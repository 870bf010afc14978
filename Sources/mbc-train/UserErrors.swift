import ArgumentParser
import Foundation
import MBCore
import MBData
import MBDeploy
import MBTrain

/// Runs `body`; a user error (bad config, bad file) becomes one line on stderr and exit code 2,
/// never a stack trace.
func userErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        guard let text = userErrorText(error) else { throw error }
        FileHandle.standardError.write(Data("error: \(text)\n".utf8))
        throw ExitCode(2)
    }
}

/// The one-line message of an error caused by bad input, or nil for any other error.
func userErrorText(_ error: Error) -> String? {
    switch error {
    case let e as ConfigError: return e.message
    case let e as DataError: return e.message
    case let e as CheckpointError: return e.message
    case let e as ExportError: return e.message
    case let e as SafeTensorsError: return e.message
    default: return nil
    }
}
