// Registers aws-sdk-client-mock's matchers (`expect(mock).toHaveReceivedCommandWith(...)`) for every test file.
import 'aws-sdk-client-mock-vitest/extend';
