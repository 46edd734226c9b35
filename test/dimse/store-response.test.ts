import assert from 'node:assert/strict';
import { requests, responses } from 'dcmjs-dimse';
import { storeResponsePdu } from '../../src/dimse/store-handler';

type CStoreResponse = InstanceType<typeof responses.CStoreResponse>;

/** A C-STORE-RQ without a data set: only its command elements matter here. */
function bareRequest(): InstanceType<typeof requests.CStoreRequest> {
  const Ctor = requests.CStoreRequest as unknown as new () => InstanceType<
    typeof requests.CStoreRequest
  >;
  return new Ctor();
}

/** dcmjs-dimse's own encoding of the same command set (what storeResponsePdu replaces). */
function dcmjsCommand(response: CStoreResponse): Buffer {
  return Buffer.from(response.getCommandDataset().getDenaturalizedCommandDataset());
}

function response(sopClass: string, sopInstance: string, messageId: number): CStoreResponse {
  const request = bareRequest();
  request.setAffectedSopClassUid(sopClass);
  request.setAffectedSopInstanceUid(sopInstance);
  request.setMessageId(messageId);
  return responses.CStoreResponse.fromRequest(request);
}

describe('dimse/store-handler storeResponsePdu', () => {
  it('encodes a success C-STORE-RSP byte for byte as dcmjs-dimse does', () => {
    const r = response('1.2.840.10008.5.1.4.1.1.2', '1.2.3.4.5', 7);
    r.setStatus(0x0000);
    const pdu = storeResponsePdu(3, r);
    const command = dcmjsCommand(r);
    assert.ok(pdu.subarray(12).equals(command));
    assert.equal(pdu.readUInt8(0), 0x04, 'P-DATA-TF');
    assert.equal(pdu.readUInt32BE(2), pdu.length - 6, 'PDU length');
    assert.equal(pdu.readUInt32BE(6), command.length + 2, 'PDV item length');
    assert.equal(pdu.readUInt8(10), 3, 'presentation context id');
    assert.equal(pdu.readUInt8(11), 0x03, 'command, last fragment');
  });

  it('pads odd-length UIDs with NUL and carries the status and the error comment', () => {
    const r = response('1.2.840.10008.5.1.4.1.1.7', '1.2.3.4', 65535);
    r.setStatus(0xa700);
    r.setErrorComment('VEIL_E_SPOOL_FULL');
    const pdu = storeResponsePdu(1, r);
    assert.ok(pdu.subarray(12).equals(dcmjsCommand(r)));
    assert.equal(pdu.length % 2, 0);
    assert.ok(pdu.includes(Buffer.from('1.2.840.10008.5.1.4.1.1.7\0', 'latin1')));
    assert.ok(pdu.includes(Buffer.from('VEIL_E_SPOOL_FULL ', 'latin1')), 'LO padded with space');
    const status = pdu.indexOf(Buffer.from([0x00, 0x00, 0x00, 0x09, 0x02, 0, 0, 0]));
    assert.ok(status > 0);
    assert.equal(pdu.readUInt16LE(status + 8), 0xa700);
  });

  it('writes exactly the elements dcmjs-dimse writes for a response without UIDs', () => {
    const r = responses.CStoreResponse.fromRequest(bareRequest());
    r.setStatus(0xc000);
    const pdu = storeResponsePdu(5, r);
    assert.ok(pdu.subarray(12).equals(dcmjsCommand(r)));
  });

  it("writes the UIDs the response holds, also ones dcmjs would not read (a request's, as sent)", () => {
    const r = response('1.2.840.10008.5.1.4.1.1.7', '', 3);
    r.setStatus(0xc000);
    r.setAffectedSopInstanceUid('nodigits');
    const pdu = storeResponsePdu(1, r);
    const uid = pdu.indexOf(Buffer.from([0x00, 0x00, 0x00, 0x10, 0x08, 0, 0, 0]));
    assert.ok(uid > 0, '(0000,1000) with length 8');
    assert.equal(pdu.toString('latin1', uid + 8, uid + 16), 'nodigits');
    assert.ok(pdu.includes(Buffer.from('1.2.840.10008.5.1.4.1.1.7\0', 'latin1')));
    assert.equal(pdu.readUInt32BE(2), pdu.length - 6);
  });
});
