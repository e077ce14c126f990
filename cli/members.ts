/**
 * `raftlog members`, `raftlog leave` and `raftlog move-leader`: list the
 * cluster's members, remove one, or hand leadership to one, through the
 * membership routes of any member.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { MemberClient } from "../transport/member_client.ts";
import { UsageError } from "./usage_error.ts";

/**
 * The cluster secret from `--secret`, `--secret-file` or `RAFTLOG_SECRET`;
 * throws `UsageError` when there is none or both flags are given.
 */
export function secretOf(
  values: { secret?: string | undefined; "secret-file"?: string | undefined },
  env: (name: string) => string | undefined,
): string {
  let secret = values.secret;
  const file = values["secret-file"];
  if (file !== undefined) {
    if (secret !== undefined) throw new UsageError("Give --secret or --secret-file, not both");
    try {
      secret = Deno.readTextFileSync(file).trim();
    } catch (e) {
      throw new UsageError(
        `Cannot read --secret-file ${file}: ${e instanceof Error ? e.message : e}`,
      );
    }
  }
  secret ??= env("RAFTLOG_SECRET");
  if (secret === undefined || secret === "") {
    throw new UsageError("A cluster secret is required: --secret, --secret-file or RAFTLOG_SECRET");
  }
  return secret;
}

/**
 * The members' addresses `--cluster URL[,URL...]` gives (trailing slashes
 * dropped); throws `UsageError` naming `cmd` when there are none or one is
 * not http(s).
 */
export function clusterUrls(cmd: string, value: string | undefined): string[] {
  const urls = (value ?? "").split(",").map((s) => s.trim().replace(/\/+$/, ""))
    .filter((s) => s !== "");
  if (urls.length === 0 || !urls.every((u) => /^https?:\/\//.test(u))) {
    throw new UsageError(`${cmd} needs --cluster URL[,URL...]: http(s) addresses of members`);
  }
  return urls;
}

/**
 * Runs `members` (print the membership), `leave` (remove `--id` and print
 * the membership that results) or `move-leader` (hand leadership to voter
 * `--id` and print the membership once it leads). Resolves with the exit
 * code: 0 ok, 1 the cluster refused or could not be reached; bad arguments
 * throw `UsageError`.
 *
 * @example
 * ```ts
 * import { runMembersCommand } from "./members.ts";
 * import { UsageError } from "./usage_error.ts";
 * try {
 *   await runMembersCommand("leave", ["--cluster", "http://127.0.0.1:7001", "--secret", "s"]);
 * } catch (e) {
 *   console.assert(e instanceof UsageError); // no --id
 * }
 * ```
 */
export async function runMembersCommand(
  cmd: "members" | "leave" | "move-leader",
  args: readonly string[],
  env: (name: string) => string | undefined = () => undefined,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: true,
    options: {
      id: { type: "string" },
      cluster: { type: "string" },
      secret: { type: "string" },
      "secret-file": { type: "string" },
    },
  });
  if (positionals.length > 0) {
    throw new UsageError(`${cmd} takes no positional arguments, got "${positionals.join(" ")}"`);
  }
  const urls = clusterUrls(cmd, values.cluster);
  if (cmd !== "members" && (values.id === undefined || values.id === "")) {
    throw new UsageError(
      cmd === "leave"
        ? "leave needs --id ID: the member to remove"
        : "move-leader needs --id ID: the voter to hand leadership to",
    );
  }
  const client = new MemberClient({ urls, secret: secretOf(values, env) });
  try {
    const body = cmd === "leave"
      ? await client.remove(values.id!)
      : cmd === "move-leader"
      ? await client.transferLeadership(values.id!)
      : await client.list();
    console.log(JSON.stringify(body, null, 2));
    return 0;
  } catch (e) {
    console.error(`raftlog ${cmd}: ${e instanceof Error ? e.message : e}`);
    return 1;
  }
}
