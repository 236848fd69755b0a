import type { utils as Ssh2Utils } from 'ssh2';

/**
 * A fresh ed25519 key pair in OpenSSH format. ssh2's generator writes a key whose public half
 * starts with a zero byte one byte short (about 1 key in 250) and then cannot read it back, so
 * each pair is read back before use and drawn again when that fails.
 */
export function ed25519KeyPair(utils: typeof Ssh2Utils): { private: string; public: string } {
  for (let attempt = 0; attempt < 20; attempt++) {
    const keys = utils.generateKeyPairSync('ed25519');
    if (!(utils.parseKey(keys.private) instanceof Error) && !(utils.parseKey(keys.public) instanceof Error)) return keys;
  }
  throw new Error('could not generate a readable ed25519 key pair');
}
