import { ApiError, api } from "./api";

export function showLogin(): void {
  const form = document.getElementById("login-form") as HTMLFormElement;
  const error = document.getElementById("login-error") as HTMLElement;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const button = form.querySelector("button") as HTMLButtonElement;
    button.disabled = true;
    error.hidden = true;
    try {
      await api.login(String(data.get("username") ?? ""), String(data.get("password") ?? ""));
      window.location.assign("/");
    } catch (exc) {
      // The API's own words: the same message for an unknown user and a wrong password, and the wait when throttled.
      error.textContent = exc instanceof ApiError ? exc.message : "The server could not be reached.";
      error.hidden = false;
      button.disabled = false;
    }
  });
}
