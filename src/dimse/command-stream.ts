/**
 * Mends dcmjs-dimse 0.3.x's receive path for messages without a data set. Network._processPDataTf
 * collects each command's PDVs in `dimseStream` and parses it when the last fragment arrives; for
 * a message that has a data set it then starts a fresh stream, but for one without (C-STORE-RSP,
 * C-ECHO, C-GET/C-MOVE-RSP without identifier) it hands the message on and keeps the stream. The
 * next command is appended to it and the whole buffer parsed again: on an association that sends
 * 200 instances (a C-MOVE or C-GET, a DIMSE archive put) the 200th C-STORE-RSP is parsed together
 * with the 199 before it (~30 KB; ~1 ms of CPU per response by then, measured in a C-MOVE of 200
 * CT slices), and whatever an earlier response held is read into the later one too. Tested against
 * DCMTK storescp in test/dimse/command-stream.test.ts.
 */
import { Scp } from 'dcmjs-dimse';

/** The part of dcmjs-dimse's Network this module touches. */
interface ReceiveInternals {
  dimseStream?: unknown;
  _performDimse(context: unknown, dimse: { hasDataset(): boolean }): unknown;
}

const network = Object.getPrototypeOf(Scp.prototype) as ReceiveInternals & { veilFresh?: true };
if (typeof network._performDimse === 'function' && !network.veilFresh) {
  const perform = network._performDimse;
  network.veilFresh = true;
  network._performDimse = function (this: ReceiveInternals, context, dimse) {
    // The message is complete: the next command starts on a fresh stream, as after a data set.
    if (!dimse.hasDataset()) this.dimseStream = undefined;
    return perform.call(this, context, dimse);
  };
}

/** True once the mend is in place (dcmjs-dimse has the method it wraps). */
export const commandStreamMended = network.veilFresh === true;
