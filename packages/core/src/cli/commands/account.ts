import type { Command } from "commander";
import { InvalidArgumentError } from "../../errors.js";
import { accountFromEnv, createKeystore, saveKeystore } from "../../keys.js";
import { accountFrom, keystorePath, output, promptHidden, type GlobalOptions } from "../context.js";

/** `account create|import|show`: the local key. */
export function registerAccount(program: Command, globals: () => GlobalOptions): void {
  const account = program.command("account").description("manage the local key");
  account
    .command("create")
    .description("create a new key in an encrypted keystore (file mode 0600)")
    .action(async () => {
      const opts = globals();
      const path = keystorePath(opts);
      const password = process.env.ZG_KEYSTORE_PASSWORD ?? (await newPassword());
      const { address: addr } = await createKeystore(path, password);
      output(opts, { address: addr, keystore: path }, () => `created ${addr}\nkeystore ${path}`);
    });
  account
    .command("import")
    .description("encrypt an existing key into the keystore; the key is read from an environment variable, never from a flag")
    .requiredOption("--from-env <VAR>", "environment variable holding the hex private key")
    .action(async (cmd: { fromEnv: string }) => {
      const opts = globals();
      const key = accountFromEnv(cmd.fromEnv);
      const raw = process.env[cmd.fromEnv]!.trim();
      const path = keystorePath(opts);
      const password = process.env.ZG_KEYSTORE_PASSWORD ?? (await newPassword());
      await saveKeystore(path, (raw.startsWith("0x") ? raw : `0x${raw}`) as `0x${string}`, password);
      output(opts, { address: key.address, keystore: path }, () => `imported ${key.address}\nkeystore ${path}`);
    });
  account
    .command("show")
    .description("print the address of the key in use")
    .action(async () => {
      const opts = globals();
      const acct = await accountFrom(opts);
      output(opts, { address: acct.address }, () => acct.address);
    });

  async function newPassword(): Promise<string> {
    const a = await promptHidden("New keystore password: ");
    const b = await promptHidden("Repeat it: ");
    if (a !== b) throw new InvalidArgumentError("the passwords differ");
    return a;
  }
}
