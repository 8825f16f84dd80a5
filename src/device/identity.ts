/**
 * A stable id for this box, used in MQTT topics, telemetry and second-opinion packages. It is derived from
 * /etc/machine-id the way systemd recommends for applications (an HMAC keyed with the machine id, see
 * sd_id128_get_machine_app_specific), so the raw machine id never leaves the box; a configured id wins.
 */
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DeviceError } from './errors.ts';

/** Fixed for pathbox: changing it would give every box in the fleet a new identity. */
const APPLICATION_KEY = 'pathbox.device-id.v1';
const MACHINE_ID_FILES = ['/etc/machine-id', '/var/lib/dbus/machine-id'];
/** Lower-case letters, digits and dashes: safe in MQTT topic levels, file names and URLs. */
const CONFIGURED_ID = /^[a-z0-9][a-z0-9-]{2,62}$/;

export async function deviceId(options: { configured?: string; machineIdFiles?: readonly string[] } = {}): Promise<string> {
  if (options.configured !== undefined) {
    if (!CONFIGURED_ID.test(options.configured)) {
      throw new DeviceError(
        'INVALID_DEVICE_ID',
        `configured device id ${JSON.stringify(options.configured)} must be 3-63 lower-case letters, digits or dashes, starting with a letter or digit`,
      );
    }
    return options.configured;
  }
  for (const file of options.machineIdFiles ?? MACHINE_ID_FILES) {
    const machineId = await readFile(file, 'utf8').then((text) => text.trim(), () => '');
    // An empty or "uninitialized" machine-id (first boot of an image) is not an identity.
    if (/^[0-9a-f]{32}$/.test(machineId)) {
      return createHmac('sha256', machineId).update(APPLICATION_KEY).digest('hex').slice(0, 32);
    }
  }
  throw new DeviceError(
    'NO_MACHINE_ID',
    `no device id configured and no valid machine id in ${(options.machineIdFiles ?? MACHINE_ID_FILES).join(' or ')}`,
  );
}
