// The Node verification snippet from the README, run by the events tests
// against real deliveries. Input on stdin: {"secret", "header", "body"}
// with body base64-encoded (the raw bytes as received). Exit 0 if the
// signature verifies, 1 if not.
import crypto from "node:crypto";

// --- README snippet ---
export function verifySupabridgeSignature(secret, header, rawBody, toleranceSeconds = 300) {
  let timestamp = "";
  const signatures = [];
  for (const part of header.split(",")) {
    const [key, value] = part.trim().split("=", 2);
    if (key === "t") timestamp = value;
    if (key === "v1") signatures.push(Buffer.from(value, "hex"));
  }
  const t = Number(timestamp);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > toleranceSeconds) return false;
  const expected = crypto.createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody).digest();
  return signatures.some((s) => s.length === expected.length && crypto.timingSafeEqual(s, expected));
}
// --- end of snippet ---

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { secret, header, body } = JSON.parse(input);
process.exit(verifySupabridgeSignature(secret, header, Buffer.from(body, "base64")) ? 0 : 1);
