// Prints one closing line "tests: N passed, N failed, N skipped" from vitest's JSON report.
import { readFileSync } from 'node:fs';

const file = process.argv[2];
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch {
  console.log('tests: 0 passed, 1 failed (no test report was written)');
  process.exit(1);
}
const passed = report.numPassedTests ?? 0;
// A file that fails to load has no failed tests, only a failed suite: count it then.
const failed = report.numFailedTests || report.numFailedTestSuites || 0;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
// A skipped test is not a passing one: the suite has no skips by design.
process.exit(failed > 0 || skipped > 0 || passed === 0 ? 1 : 0);
