export type DeviceErrorCode =
  | 'DEVICE_TABLE_INVALID' // device/usb-ids.json is missing, not JSON, or breaks its schema
  | 'NO_MACHINE_ID' // neither a configured device id nor /etc/machine-id is there
  | 'INVALID_DEVICE_ID'; // a configured device id that cannot name a device in the fleet

export class DeviceError extends Error {
  readonly code: DeviceErrorCode;
  constructor(code: DeviceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DeviceError';
    this.code = code;
  }
}
