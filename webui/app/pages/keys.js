// Keys: every key in the HSM token, as the HSM describes it (PKCS#11 attributes
// shown +SET / -CLEAR). Values never leave
// the HSM, so there is nothing else to show.
import { api } from "../api.js";
import { h, table } from "../dom.js";

export default {
  id: "keys",
  title: "Keys",
  roles: ["admin", "auditor"],
  async render(el) {
    const status = await api("GET", "/admin/v1/status");
    const hsm = status.hsm || {};
    const keys = hsm.keys || [];
    el.append(
      h("p", {}, `Token ${(hsm.token || {}).label || "?"}; resource_ref key version ${hsm.ref_key_version ?? "?"}.`),
      table("Keys in the HSM", ["Label", "Type", "Bits", "Fingerprint / KCV", "Attributes"], keys.map((k) =>
        h("tr", { "data-key": k.label },
          h("th", { scope: "row" }, k.label), h("td", {}, k.type), h("td", {}, k.bits ?? ""),
          h("td", {}, h("code", {}, k.fingerprint || "")),
          h("td", {}, Object.entries(k.attributes || {}).map(([name, on]) =>
            h("span", { class: `attr ${on ? "on" : "off"}` }, `${on ? "+" : "-"}${name}`)))))));
  },
};
